"""The one table that turns domain and port errors into HTTP responses."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from fitboard.application.ports import QueueUnavailable, RankingUnavailable, StoreUnavailable
from fitboard.domain.errors import (
    AuthenticationFailed,
    Conflict,
    DomainError,
    Forbidden,
    InvalidField,
    NotFound,
)

log = logging.getLogger(__name__)

RETRY_AFTER_S = 5

_STATUS: dict[type[Exception], int] = {
    NotFound: 404,
    Conflict: 409,
    Forbidden: 403,
    AuthenticationFailed: 401,
}


async def _invalid_field(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidField)
    # Same shape as FastAPI's own validation errors, so clients handle one format.
    detail = [{"loc": ["body", exc.field], "msg": exc.message, "type": "value_error"}]
    return JSONResponse({"detail": detail}, status_code=422)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 400)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("dependency unavailable on %s %s: %s", request.method, request.url.path, exc)
    if isinstance(exc, QueueUnavailable):
        what = "the workout could not be stored durably"
    elif isinstance(exc, StoreUnavailable):
        what = "the database is unreachable"
    else:
        what = "the leaderboards are unreachable"
    return JSONResponse(
        {"detail": f"{what}; nothing was saved, please retry"},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(InvalidField, _invalid_field)
    app.add_exception_handler(DomainError, _domain_error)
    for kind in (QueueUnavailable, StoreUnavailable, RankingUnavailable):
        app.add_exception_handler(kind, _unavailable)
