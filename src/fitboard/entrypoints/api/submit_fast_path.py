"""`POST /v1/workouts`, the hot path, answered without FastAPI's per-request machinery.

A submission that FastAPI would accept costs the API process about twice what its own work
does: the route table, the exception and exit-stack middlewares, the dependency solver, the
content-type parse and the response model's serialization come to about a fifth of an
ingest process's CPU. This middleware answers such a submission itself — the same token
check (deps.authenticate), the same body model (WorkoutIn, validated from the same
`json.loads` as FastAPI's), the same work (routers.workouts.accept_workout) and the same
202 — and hands every other request to the application unchanged.

Only the case it is sure of is served here: JSON content, a body that parses and
validates, a caller that authenticates. Anything else (no token, a bad body, another
content type, a client that went away) goes to FastAPI with the body replayed, so every
refusal is the route's own, from one place. An error raised by the work itself (429, 409,
422 from the domain's checks, 503) is answered by the application's exception handler for
it (errors.install), as the route would be (fast_paths.error_response).
tests/e2e/test_submit_fast_path.py holds the two paths to the same answers."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fitboard.bootstrap import Services
from fitboard.entrypoints.api.deps import authenticate
from fitboard.entrypoints.api.fast_paths import error_response
from fitboard.entrypoints.api.routers.workouts import (
    accept_workout,
    post_workout,
    router,
    workout_location,
)
from fitboard.entrypoints.api.schemas import WorkoutAccepted, WorkoutIn


class SubmitFastPath:
    """Added innermost of the application's own middlewares, so that the request id,
    metrics, security headers and body limit apply to what it answers as to the rest."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # The route FastAPI would have matched: its path tells a submission, and it is
        # what the metrics read the route's template from (http_metrics.py).
        self._route = _submit_route()
        self._path = self._route.path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self._path:
            await self.app(scope, receive, send)
            return
        app: FastAPI = scope["app"]
        # Dependency overrides (a test's, say) belong to FastAPI's solver: stand aside.
        if app.dependency_overrides:
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        body = await _read_body(receive, received)
        replay = _replaying(received, receive)
        request = Request(scope, replay)
        accepted = await _accepted(request, body)
        if accepted is None:
            await self.app(scope, replay, send)
            return
        workout, user_id = accepted
        scope["route"] = self._route
        services: Services = app.state.services
        try:
            workout_id = await accept_workout(workout, user_id, services)
        except Exception as exc:
            response = await error_response(app, request, exc)
        else:
            response = Response(
                WorkoutAccepted(id=workout_id).model_dump_json(),
                status_code=202,
                media_type="application/json",
                headers={"Location": workout_location(workout_id)},
            )
        await response(scope, replay, send)


def _submit_route() -> APIRoute:
    for route in router.routes:
        if isinstance(route, APIRoute) and route.endpoint is post_workout:
            return route
    raise RuntimeError("the workouts router has no submission route to serve fast")


async def _read_body(receive: Receive, received: list[Message]) -> bytes | None:
    """The whole body, each message kept in `received` for a replay; None when the
    client went away first (FastAPI then answers as it does)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        received.append(message)
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(received: list[Message], receive: Receive) -> Receive:
    """The messages already read, in order, then the server's own."""
    pending = list(received)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


async def _accepted(request: Request, body: bytes | None) -> tuple[WorkoutIn, UUID] | None:
    """The submission and its athlete when FastAPI would get as far as the route's body;
    None for anything it would refuse or parse otherwise."""
    if not body or not _is_json(request.headers.get("content-type")):
        return None
    try:
        data: Any = json.loads(body)
        access = await authenticate(request)
        return WorkoutIn.model_validate(data), access.user_id
    except Exception:
        # Whatever it is (bad JSON, no or a revoked token, an invalid field, the record
        # unreachable to check the athlete), FastAPI meets it again and answers it as
        # the route always has. Nothing was done yet that a second try would repeat.
        return None


def _is_json(content_type: str | None) -> bool:
    """`application/json`, parameters allowed: what FastAPI reads as JSON, narrowed to the
    one type clients send (any other, `+json` suffixes included, goes to FastAPI)."""
    if content_type is None:
        return False
    return content_type.partition(";")[0].strip().lower() == "application/json"
