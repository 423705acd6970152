from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

router = APIRouter(tags=["operations"])


@router.get("/metrics", operation_id="metrics", response_class=Response)
async def metrics() -> Response:
    """This process's metrics in the Prometheus text format (live connections, emit rates...)."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
