from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from fitboard.entrypoints.api.deps import ContainerDep
from fitboard.entrypoints.api.schemas import ReadyOut

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])


@router.get("/healthz", operation_id="healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={
        200: {"model": ReadyOut, "description": "Every dependency answers"},
        503: {"model": ReadyOut, "description": "Some dependency does not answer"},
    },
    operation_id="readyz",
)
async def readyz(container: ContainerDep) -> JSONResponse:
    """Every dependency answers; 503 names the ones that do not."""
    checks = {
        "store": container.store.ping,
        "ranking": container.ranking.ping,
        "queue": container.broker.ping,
    }
    results: dict[str, str] = {}
    for name, ping in checks.items():
        try:
            await ping()
            results[name] = "ok"
        except Exception as exc:
            # The cause is for the operator's log; the answer, which anyone may read, names
            # the dependency only (no addresses, no driver messages).
            log.warning("readyz: %s unavailable: %s: %s", name, type(exc).__name__, exc)
            results[name] = "unavailable"
    ready = all(v == "ok" for v in results.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": results},
        status_code=200 if ready else 503,
    )
