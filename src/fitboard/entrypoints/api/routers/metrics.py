from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from fitboard.entrypoints.api import examples

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    operation_id="metrics",
    response_class=Response,
    responses={
        200: {
            "description": "The Prometheus text exposition format",
            "content": {
                "text/plain": {"schema": {"type": "string"}, "example": examples.METRICS_TEXT}
            },
        }
    },
)
async def metrics() -> Response:
    """This process's metrics in the Prometheus text format (live connections, emit rates...)."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
