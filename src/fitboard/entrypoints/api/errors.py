"""The one table that turns domain and port errors into HTTP responses."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
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
from fitboard.entrypoints.api import schemas, schemas_admin
from fitboard.entrypoints.api.schemas import ErrorOut, ValidationErrorOut

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


def _location(request: Request, field: str) -> str:
    """Where the route takes `field` from: a parameter of its path or its query, else the
    body. Asked of the route's own parameters, not of what the client sent: `?name=x` on
    a route whose body has a `name` does not move a refused name into the query."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:
        return "body"
    declared = {
        "path": dependant.path_params,
        "query": dependant.query_params,
    }
    for where, params in declared.items():
        if any(param.alias == field or param.name == field for param in params):
            return where
    # Parameters of sub-dependencies (the current user's token and the like) are never
    # named by a domain rule; the body is what the rules check.
    return "body"


async def _invalid_field(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidField)
    # Same shape as FastAPI's own validation errors, so clients handle one format.
    where = _location(request, exc.field)
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


# Each refusal as the OpenAPI document shows it: when it happens, and one body it has.
_REFUSALS: dict[int, tuple[str, str]] = {
    400: (
        "The form could not be parsed (a broken multipart or form encoding)",
        "There was an error parsing the body",
    ),
    401: (
        "No valid token: missing, expired, forged, revoked, or its athlete does not exist",
        "send Authorization: Bearer <token> (from /v1/auth/token)",
    ),
    403: ("The caller may not do this", "group boards are visible to the group's members only"),
    404: ("No such thing, or not the caller's to see", "no such workout"),
    409: ("Clashes with what is stored", "the username 'ada' is taken"),
    413: (
        "The body is larger than the server accepts (FITBOARD_MAX_BODY_BYTES)",
        "the request body is larger than this server accepts (1048576 bytes); send less "
        "(a batch takes at most 100 workouts)",
    ),
    429: (
        "Too many attempts for the caller's budget; nothing was done. Retry after "
        "Retry-After seconds",
        "too many workouts from this athlete (at most 600 per minute); retry in 42 s",
    ),
    503: (
        "A dependency is unavailable; nothing was saved. Retry after Retry-After seconds",
        "the database is unreachable; nothing was saved, please retry",
    ),
}
_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "Bearer: the scheme a token is sent with",
            "schema": {"type": "string"},
        }
    },
    429: _RETRY_AFTER,
    503: _RETRY_AFTER,
}


def refusal(
    code: int, description: str | None = None, example: str | None = None
) -> dict[str, Any]:
    """One refusal's OpenAPI response: the `{detail}` body, an example of it, and the
    headers it carries; `description` and `example` say it in a route's own words."""
    when, detail = _REFUSALS[code]
    documented: dict[str, Any] = {
        "model": ErrorOut,
        "description": description or when,
        "content": {"application/json": {"example": {"detail": example or detail}}},
    }
    if code in _HEADERS:
        documented["headers"] = _HEADERS[code]
    return documented


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The refusals an operation can answer, for its OpenAPI document. 422, the validation
    error, is documented wherever FastAPI finds input to validate (see `install`)."""
    return {code: refusal(code) for code in codes}


_FASTAPI_VALIDATION = "#/components/schemas/HTTPValidationError"


def _examples_by_model() -> dict[str, list[Any]]:
    """Each body model's examples, by the name its schema has in the document."""
    found: dict[str, list[Any]] = {}
    for module in (schemas, schemas_admin):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseModel):
                extra = value.model_config.get("json_schema_extra")
                examples = extra.get("examples") if isinstance(extra, dict) else None
                if isinstance(examples, list):
                    found[value.__name__] = examples
    return found


def _complete_document(app: FastAPI) -> None:
    """Two corrections to what FastAPI generates. It documents a 422 on every operation
    with parameters or a body as its own HTTPValidationError, whose `input`, `ctx` and
    `url` `_request_invalid` never sends: the document says ValidationErrorOut instead,
    the body both handlers above answer. And it drops every null from the document, the
    nulls of the models' examples too, which then lack required fields: they are put
    back as the models give them."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        components = document.setdefault("components", {}).setdefault("schemas", {})
        ours = ValidationErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(ours.pop("$defs", {}))
        components[ValidationErrorOut.__name__] = ours
        for name, examples in _examples_by_model().items():
            if "examples" in components.get(name, {}):
                components[name]["examples"] = examples
        for path_item in document.get("paths", {}).values():
            for operation in path_item.values():
                answer = operation.get("responses", {}).get("422")
                if answer is None:
                    continue
                media = answer.setdefault("content", {}).setdefault("application/json", {})
                if media.get("schema", {}).get("$ref") in (None, _FASTAPI_VALIDATION):
                    media["schema"] = {
                        "$ref": f"#/components/schemas/{ValidationErrorOut.__name__}"
                    }
                if answer.get("description") == "Validation Error":
                    answer["description"] = (
                        "Input the schema or the domain's rules refuse; each refused field "
                        "is named, with where it is (path, query or body)"
                    )
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    _complete_document(app)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(400, _unreadable_body)
    app.add_exception_handler(405, _method_not_allowed)
    app.add_exception_handler(InvalidField, _invalid_field)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RateLimited, _rate_limited)
    for kind in (QueueUnavailable, StoreUnavailable, RankingUnavailable):
        app.add_exception_handler(kind, _unavailable)
