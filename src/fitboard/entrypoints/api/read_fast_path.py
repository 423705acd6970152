"""`GET /v1/leaderboards/{metric}/{period}` and `.../me`, the board reads, answered without
FastAPI's per-request machinery.

Under a board's top-10 reads most of the API process's time went to FastAPI's own work
on each request (matching the route table, solving the dependencies, reading and
validating the query, the exception and exit-stack middlewares, validating the response),
and little to reading the board (Boards.read_board, RedisRanking.read_page). This
middleware answers such a read itself: the same token check (deps.authenticate), the
route's own endpoint (routers.leaderboards.get_board or get_my_standing) called with the
values FastAPI would give it, and the route's 200 with the same JSON; every other request
goes to the application unchanged.

Only the case it is sure of is served here: a metric and a period that are values of
Metric and Period, a query whose every key is one of the route's parameters, given once
and spelled plainly, each integer in plain digits within the route's bounds, and a caller
that authenticates. Anything else (no token, a revoked one, a sign or a space before a
number, a number out of bounds, a key repeated, unknown or percent-encoded) goes to
FastAPI, so every refusal of the request is the route's own, from one place. What it
knows of each parameter (its name, default and bounds) it reads from the route itself.
An error raised by the work (403 and 404 for a group board, 422 from the domain's
checks, 503) is answered by the application's exception handler for it
(fast_paths.error_response), as the route's would be. tests/e2e/test_board_read_fast_path.py
holds the two paths to the same answers."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, get_args
from urllib.parse import unquote_plus

from annotated_types import Ge, Le
from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from fitboard.domain.boards import Metric, Period
from fitboard.entrypoints.api.deps import CurrentUserId, authenticate, get_services
from fitboard.entrypoints.api.fast_paths import error_response
from fitboard.entrypoints.api.routers.leaderboards import get_board, get_my_standing, router

# The longest integer read here; a longer one, though in plain digits, goes to FastAPI.
_MAX_DIGITS = 6
_METRICS = {metric.value: metric for metric in Metric}
_PERIODS = {period.value: period for period in Period}


@dataclass(frozen=True)
class _Param:
    """One query parameter of a route, as the route declares it."""

    name: str  # the endpoint's argument
    default: object
    bounds: tuple[int, int] | None  # an integer's, both included; None for text


@dataclass(frozen=True)
class _Read:
    """One of the two routes, and its query parameters by the key a client sends."""

    route: APIRoute
    endpoint: Callable[..., Awaitable[BaseModel]]
    params: dict[str, _Param]


class BoardReadFastPath:
    """Added innermost of the application's own middlewares, so that the request id,
    metrics and security headers apply to what it answers as to the rest."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._prefix = router.prefix + "/"
        self._board = _read(get_board, "/{metric}/{period}")
        self._standing = _read(get_my_standing, "/{metric}/{period}/me")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        read = self._read_of(scope)
        app: FastAPI | None = scope.get("app")
        # Dependency overrides (a test's, say) belong to FastAPI's solver: stand aside.
        if read is None or app is None or app.dependency_overrides:
            await self.app(scope, receive, send)
            return
        matched = _matched(scope["path"][len(self._prefix) :], scope["query_string"], read)
        if matched is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            access = await authenticate(request)
        except Exception:
            # No or a revoked token, the record unreachable to check the athlete: FastAPI
            # meets it again and answers it as the route always has. Nothing was done yet.
            await self.app(scope, receive, send)
            return
        # The route FastAPI would have matched: the metrics read its template from it
        # (http_metrics.py), and a refused field's location its parameters (errors.py).
        scope["route"] = read.route
        try:
            model = await read.endpoint(
                user_id=access.user_id, services=app.state.services, **matched
            )
        except Exception as exc:
            response = await error_response(app, request, exc)
        else:
            # As FastAPI answers a route whose return type is its response model.
            response = Response(model.model_dump_json(by_alias=True), media_type="application/json")
        await response(scope, receive, send)

    def _read_of(self, scope: Scope) -> _Read | None:
        """The route a GET's path has the shape of, by its segments alone; None for any
        other request, or one under a root path (whose routes Starlette matches on what
        follows it)."""
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
            return None
        path: str = scope["path"]
        if not path.startswith(self._prefix):
            return None
        segments = path.count("/", len(self._prefix))
        if segments == 1:
            return self._board
        if segments == 2 and path.endswith("/me"):
            return self._standing
        return None


def _matched(rest: str, query_string: bytes, read: _Read) -> dict[str, Any] | None:
    """The endpoint's arguments but the caller and the services, as FastAPI would give
    them; None for a request this path leaves to FastAPI."""
    metric_name, period_name, *_ = rest.split("/")
    metric = _METRICS.get(metric_name)
    period = _PERIODS.get(period_name)
    if metric is None or period is None:
        return None
    values: dict[str, Any] = {"metric": metric, "period": period}
    values.update((param.name, param.default) for param in read.params.values())
    if not query_string:
        return values
    seen: set[str] = set()
    # Decoded and split as Starlette's QueryParams does (latin-1, then at each `&`).
    for item in query_string.decode("latin-1").split("&"):
        key, equals, text = item.partition("=")
        param = read.params.get(key)
        if not equals or param is None or key in seen:
            return None
        seen.add(key)
        if param.bounds is None:
            # Unquoted as Starlette's parse_qsl unquotes a value.
            values[param.name] = unquote_plus(text)
            continue
        number = _plain_int(text, param.bounds)
        if number is None:
            return None
        values[param.name] = number
    return values


def _plain_int(text: str, bounds: tuple[int, int]) -> int | None:
    """The integer `text` spells in plain digits (no sign, space, leading zero or
    underscore), when within `bounds`; None otherwise."""
    if not (0 < len(text) <= _MAX_DIGITS and text.isascii() and text.isdigit()):
        return None
    if len(text) > 1 and text[0] == "0":
        return None
    number = int(text)
    low, high = bounds
    return number if low <= number <= high else None


def _read(endpoint: Callable[..., Awaitable[BaseModel]], path: str) -> _Read:
    """The route of `endpoint` and its query parameters, checked to be of the kinds this
    path serves: any change to the route it would not serve as FastAPI does is an error
    here, at startup, rather than a different answer."""
    route = next(
        (r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is endpoint), None
    )
    if route is None or route.path != router.prefix + path:
        raise RuntimeError(f"the leaderboards router has no route {path} to serve fast")
    dependant = route.dependant
    caller = get_args(CurrentUserId)[1].dependency
    expected = {
        "path": [("metric", Metric), ("period", Period)],
        "dependencies": [("user_id", caller), ("services", get_services)],
        "other parameters": [],
    }
    declared = {
        "path": [(f.name, f.field_info.annotation) for f in dependant.path_params],
        "dependencies": [(d.name, d.call) for d in dependant.dependencies],
        "other parameters": [
            *dependant.header_params,
            *dependant.cookie_params,
            *dependant.body_params,
            *route.dependencies,
        ],
    }
    if declared != expected or route.status_code is not None:
        raise RuntimeError(f"{route.path} takes what the fast path does not serve")
    params = {field.alias: _param(field.name, field.field_info) for field in dependant.query_params}
    names = {"metric", "period", "user_id", "services", *(p.name for p in params.values())}
    if set(inspect.signature(endpoint).parameters) != names:
        raise RuntimeError(f"{route.path}: its endpoint's arguments are not its parameters")
    return _Read(route, endpoint, params)


def _param(name: str, info: Any) -> _Param:
    if info.is_required():
        raise RuntimeError(f"query parameter {name} is required: the fast path has no default")
    if info.annotation in (str, str | None) and not info.metadata:
        return _Param(name, info.default, None)
    bounds = [type(m) for m in info.metadata]
    if info.annotation is not int or bounds != [Ge, Le]:
        raise RuntimeError(f"query parameter {name}: neither any text nor a bounded integer")
    low, high = info.metadata
    return _Param(name, info.default, (int(low.ge), int(high.le)))
