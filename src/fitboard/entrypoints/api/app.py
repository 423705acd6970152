"""The ASGI application: routers, error table, and the lifespan that wires adapters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from fitboard import __version__
from fitboard.application.ports import Clock
from fitboard.bootstrap import build
from fitboard.config import Settings
from fitboard.entrypoints.api import errors
from fitboard.entrypoints.api.routers import auth, health, leaderboards, me, workouts
from fitboard.entrypoints.worker.runner import consume_workouts

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    config = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = await build(config, clock=clock)
        app.state.container = container
        stop = asyncio.Event()
        worker: asyncio.Task[None] | None = None
        if container.embedded:
            # Embedded mode is one process: the worker runs beside the API.
            worker = asyncio.create_task(consume_workouts(container, stop), name="worker")
        try:
            yield
        finally:
            stop.set()
            try:
                if worker is not None:
                    await asyncio.wait_for(worker, timeout=30)
            except TimeoutError:
                log.error("embedded worker did not stop in 30 s")
            finally:
                await container.close()

    app = FastAPI(
        title="fitboard",
        version=__version__,
        description="Workouts accepted instantly; calories, live leaderboards and badges "
        "a second later.",
        lifespan=lifespan,
    )
    errors.install(app)
    for router in (auth.router, me.router, workouts.router, leaderboards.router, health.router):
        app.include_router(router)
    return app
