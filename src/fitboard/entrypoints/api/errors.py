"""The one table that turns domain and port errors into HTTP responses."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from fitboard.application.accounts.rate_limits import RateLimited
from fitboard.application.ports import QueueUnavailable, RankingUnavailable, StoreUnavailable
from fitboard.domain.errors import (
    AuthenticationFailed,
    Conflict,
    DomainError,
    Forbidden,
    InvalidField,
    NotFound,
)
from fitboard.entrypoints.api.schemas import ErrorOut

log = logging.getLogger(__name__)

RETRY_AFTER_S = 5

_STATUS: dict[type[Exception], int] = {
    NotFound: 404,
    Conflict: 409,
    Forbidden: 403,
    AuthenticationFailed: 401,
}


def _printable(value: object) -> str | int:
    """A location part or message as JSON can carry it: an unpaired surrogate in an unknown
    field's name, or a NaN, would otherwise make the refusal itself fail to encode."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = value if isinstance(value, str) else str(value)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def item_error(exc: ValidationError) -> str:
    """One refused item of a batch, as one line naming each field: `duration_s: Input
    should be a valid integer`. Like the 422 body, it never echoes the input."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(_printable(part)) for part in error.get("loc", ())) or "item"
        message = _printable(error.get("msg", "invalid"))
        parts.append(f"{where}: {str(message).removeprefix('Value error, ')}")
    return "; ".join(parts)


async def _request_invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # FastAPI's own handler echoes each refused `input`, and NaN, Infinity or an unpaired
    # surrogate in it made the 422 fail to encode (a 500). The location names the field and
    # the message says what is wrong; the input is the caller's own, so it is left out.
    detail = [
        {
            "loc": [_printable(part) for part in error.get("loc", ())],
            # Our own rules' messages (ValueError in a validator) read better without
            # pydantic's "Value error, " in front.
            "msg": _printable(error.get("msg", "invalid").removeprefix("Value error, ")),
            "type": _printable(error.get("type", "value_error")),
        }
        for error in exc.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)


async def _unreadable_body(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if isinstance(exc.__cause__, UnicodeDecodeError):
        # FastAPI answers a body that is not UTF-8 with a bare 400, though JSON is UTF-8 by
        # definition (RFC 8259): it is invalid JSON, a 422 like any other.
        detail = [{"loc": ["body"], "msg": "is not JSON in UTF-8", "type": "json_invalid"}]
        return JSONResponse({"detail": detail}, status_code=422)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path. Starlette's 405 names only those of the
    first route whose path matches, and GET and PATCH /v1/me are two routes. Asked of the
    routes themselves (nested routers included) only when a 405 is answered."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


async def _method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    allow = ", ".join(allowed_methods(request))
    return JSONResponse(
        {"detail": f"{request.method} is not allowed here; use one of {allow}"},
        status_code=405,
        headers={"Allow": allow},
    )


async def _invalid_field(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidField)
    # Same shape as FastAPI's own validation errors, so clients handle one format.
    if exc.field in request.path_params:
        where = "path"
    elif exc.field in request.query_params:
        where = "query"
    else:
        where = "body"
    detail = [{"loc": [where, exc.field], "msg": _printable(exc.message), "type": "value_error"}]
    return JSONResponse({"detail": detail}, status_code=422)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 400)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"detail": _printable(exc)}, status_code=status, headers=headers)


async def _rate_limited(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RateLimited)
    return JSONResponse(
        {"detail": exc.message},
        status_code=429,
        headers={"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))},
    )


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


_DESCRIPTIONS: dict[int, str] = {
    401: "No valid token: missing, expired, forged, revoked, or its athlete does not exist",
    403: "The caller may not do this",
    404: "No such thing, or not the caller's to see",
    409: "Clashes with what is stored",
    413: "The body is larger than the server accepts (FITBOARD_MAX_BODY_BYTES)",
    429: "Too many attempts for the caller's budget; nothing was done. Retry after "
    "Retry-After seconds",
    503: "A dependency is unavailable; nothing was saved. Retry after Retry-After seconds",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The refusals an operation can answer, for its OpenAPI document (422, the validation
    error, FastAPI lists by itself)."""
    documented: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        documented[code] = {"model": ErrorOut, "description": _DESCRIPTIONS[code]}
        if code in (429, 503):
            documented[code]["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before retrying",
                    "schema": {"type": "integer"},
                }
            }
    return documented


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(400, _unreadable_body)
    app.add_exception_handler(405, _method_not_allowed)
    app.add_exception_handler(InvalidField, _invalid_field)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RateLimited, _rate_limited)
    for kind in (QueueUnavailable, StoreUnavailable, RankingUnavailable):
        app.add_exception_handler(kind, _unavailable)
