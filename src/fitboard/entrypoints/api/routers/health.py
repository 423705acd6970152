from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from fitboard.entrypoints.api import examples
from fitboard.entrypoints.api.deps import ServicesDep
from fitboard.entrypoints.api.schemas import ReadyOut

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    summary="Liveness",
    responses={200: {"content": {"application/json": {"example": examples.HEALTHY}}}},
    operation_id="healthz",
)
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness",
    responses={
        200: {"model": ReadyOut, "description": "Every dependency answers"},
        503: {"model": ReadyOut, "description": "Some dependency does not answer"},
    },
    operation_id="readyz",
)
async def readyz(services: ServicesDep) -> JSONResponse:
    """Every dependency answers; 503 names the ones that do not."""
    results = await services.operations.readiness()
    ready = all(v == "ok" for v in results.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": results},
        status_code=200 if ready else 503,
    )
