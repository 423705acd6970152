"""The ASGI application: routers, error table, and the lifespan that wires adapters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import Receive, Scope, Send

from fitboard import __version__
from fitboard.application.ports import Clock
from fitboard.bootstrap import LiveRole, build
from fitboard.config import Settings
from fitboard.entrypoints.api import errors, live, web
from fitboard.entrypoints.api.athletes import KnownAthletes
from fitboard.entrypoints.api.body_limit import BodyLimit
from fitboard.entrypoints.api.http_metrics import HttpMetrics
from fitboard.entrypoints.api.operations_sampler import sample_forever
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
from fitboard.entrypoints.reports.runner import consume_reports
from fitboard.entrypoints.worker.runner import consume_workouts

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    config = settings or Settings()
    athletes = KnownAthletes()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = await build(config, clock=clock, live=LiveRole.GATEWAY)
        app.state.container = container
        assert container.gateway is not None
        live.install(container.gateway, container, athletes)
        try:
            await container.gateway.start(live.ContainerSnapshots(container))
        except BaseException:
            await container.close()
            raise
        stop = asyncio.Event()
        consumers: list[asyncio.Task[None]] = []
        if config.expose_metrics:
            consumers.append(
                asyncio.create_task(sample_forever(container, stop), name="metrics sampler")
            )
        if container.embedded:
            # Embedded mode is one process: the worker and the reports consumer run beside
            # the API, each on its own queue exactly as in production.
            consumers += [
                asyncio.create_task(consume_workouts(container, stop), name="worker"),
                asyncio.create_task(consume_reports(container, stop), name="reports"),
            ]
        try:
            yield
        finally:
            stop.set()
            try:
                if consumers:
                    await asyncio.wait_for(asyncio.gather(*consumers), timeout=30)
            except TimeoutError:
                log.error("background tasks (consumers, metrics sampler) did not stop in 30 s")
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
    )
    app.state.athletes = athletes
    errors.install(app)
    app.add_middleware(
        BodyLimit,
        max_bytes=config.max_body_bytes,
        upload_limits={imports.IMPORT_PATH: config.import_max_bytes},
    )
    routers = (
        auth,
        admin,
        me,
        workouts,
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
    # Outermost but for CORS: it times and counts what every other layer answers.
    app.add_middleware(HttpMetrics)
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
    app.mount("/socket.io", socketio_app, name="socket.io")
    # The browser app answers what no route above matches.
    web.install(app, docs=docs)
    return app
