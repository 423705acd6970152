"""The ASGI application: routers, error table, and the lifespan that builds the process
(bootstrap) and runs its background tasks."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import Receive, Scope, Send

from fitboard import __version__
from fitboard.application.ports import Clock
from fitboard.bootstrap import Role, Task, build
from fitboard.config import Settings
from fitboard.entrypoints.api import errors, live, web
from fitboard.entrypoints.api.athletes import KnownAthletes
from fitboard.entrypoints.api.body_limit import BodyLimit
from fitboard.entrypoints.api.http_metrics import HttpMetrics, OpenRequests
from fitboard.entrypoints.api.operations_sampler import sample_forever
from fitboard.entrypoints.api.read_fast_path import BoardReadFastPath
from fitboard.entrypoints.api.request_id import RequestId
from fitboard.entrypoints.api.routers import (
    achievements,
    admin,
    auth,
    challenges,
    groups,
    health,
    imports,
    leaderboards,
    me,
    metrics,
    reports,
    workouts,
)
from fitboard.entrypoints.api.security_headers import SecurityHeaders
from fitboard.entrypoints.api.submit_fast_path import SubmitFastPath
from fitboard.entrypoints.api.verified_tokens import VerifiedTokens
from fitboard.entrypoints.maintenance_socket import serve_maintenance
from fitboard.entrypoints.process import Runners, running
from fitboard.entrypoints.reports.runner import monthly_reports, reports_tasks
from fitboard.entrypoints.worker.runner import WORKER_TASKS


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    submit_fast_path: bool = True,
    board_read_fast_path: bool = True,
) -> FastAPI:
    """`submit_fast_path=False` leaves every submission to FastAPI's route, and
    `board_read_fast_path=False` every board read to its routes: only for comparing the
    two (tests/e2e/test_submit_fast_path.py, tests/e2e/test_board_read_fast_path.py)."""
    config = settings or Settings()
    open_requests = OpenRequests()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = await build(config, clock=clock, role=Role.API, api_busy=open_requests.any)
        app.state.container = container
        # Told of every token revocation, here and (production) in every other process.
        # From the state at start: a test may give the app a KnownAthletes of its own.
        known: KnownAthletes = app.state.athletes
        container.generation_changes.listen(known)
        app.state.services = container.services
        app.state.reports = reports = monthly_reports(container)
        # Whichever of them bootstrap lists for this process: the metrics sampler, and in
        # embedded mode the worker, the reports consumer and the maintenance socket.
        runners: Runners = {
            Task.METRICS_SAMPLER: lambda c, stop: sample_forever(c.services.operations, stop),
            Task.MAINTENANCE_SOCKET: serve_maintenance,
            **WORKER_TASKS,
            **reports_tasks(reports),
        }
        try:
            assert container.gateway is not None
            live.install(container.gateway, container.services, known)
            await container.gateway.start(container.services.live)
            async with running(container, runners, stop_within_s=30):
                yield
        finally:
            await container.close()

    docs = config.expose_docs
    app = FastAPI(
        # The docs pages are web.py's: they load Swagger UI and ReDoc from the package.
        docs_url=None,
        redoc_url=None,
        openapi_url=web.OPENAPI_URL if docs else None,
        title="fitboard",
        version=__version__,
        description="Workouts accepted instantly; calories, live leaderboards and badges "
        "a second later.",
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry spans and metrics, off: fitboard measures with
        # Prometheus (http_metrics.py), and with them on FastAPI asks OpenTelemetry for its
        # three providers on every request to learn that none is configured.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.athletes = KnownAthletes()
    app.state.verified_tokens = VerifiedTokens()
    errors.install(app)
    # Innermost of the middlewares, so every one below applies to what they answer; the
    # submissions' outer of the two, so that the hot path is tried first.
    if board_read_fast_path:
        app.add_middleware(BoardReadFastPath)
    if submit_fast_path:
        app.add_middleware(SubmitFastPath)
    app.add_middleware(
        BodyLimit,
        max_bytes=config.max_body_bytes,
        upload_limits={imports.IMPORT_PATH: config.import_max_bytes},
    )
    # Routes are tried in order and `POST /v1/workouts` is the hot path: its router goes
    # first, so a submission is not tried against the routes of auth, admin and me
    # (none of whose paths it could match) before its own.
    routers = (
        workouts,
        auth,
        admin,
        me,
        imports,
        leaderboards,
        achievements,
        reports,
        challenges,
        groups,
        health,
        metrics,
    )
    for module in routers:
        if module is metrics and not config.expose_metrics:
            continue
        app.include_router(module.router)
    app.add_middleware(SecurityHeaders)
    # Outermost but for CORS: it times and counts what every other layer answers, and the
    # requests open, which embedded mode's consumers ask (bootstrap's `consumers_loop_share`).
    app.add_middleware(HttpMetrics, open_requests=open_requests)
    # Around all of it, so that every line logged for a request carries its id.
    app.add_middleware(RequestId)
    if config.cors_origins:
        # Preflights are answered here, before the body limit; Socket.IO applies the same
        # origins itself (bootstrap).
        app.add_middleware(
            CORSMiddleware,
            allow_origins=config.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["Location", "Retry-After"],
            max_age=600,
        )

    async def socketio_app(scope: Scope, receive: Receive, send: Send) -> None:
        # The Socket.IO server is built with the container (bootstrap chooses its manager),
        # after this app exists; requests reach it through the container.
        container = getattr(app.state, "container", None)
        if container is None or container.gateway is None:
            raise RuntimeError("live updates are served once the application has started")
        await container.gateway.asgi_app(scope, receive, send)

    # Live updates (Socket.IO), at the path the official clients use by default.
    app.mount(web.SOCKET_IO_PATH, socketio_app, name="socket.io")
    # The browser app answers what no route above matches.
    web.install(app, docs=docs)
    return app
