"""An embedded fitboard per test, driven through its HTTP API (ASGI transport)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Generator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

import fastapi.routing
import httpx
import pytest
from fastapi import FastAPI

from fitboard.application.messaging.ports import MessageBroker, QueueSpec
from fitboard.application.ports import QueueUnavailable
from fitboard.config import Settings
from fitboard.entrypoints.api import create_app
from tests.conftest import run_sync
from tests.services.session import SERVICES

TEST_SECRET = "e2e-secret-that-is-long-enough-for-hs256-signing"

E2E_DIR = Path(__file__).parent
# (method, route template, status) of every answer an in-process app gave while an e2e
# test ran (its fixtures' set-up and tear-down included), with the first test that saw it;
# tests/e2e/test_openapi_statuses.py checks each one is documented.
OBSERVED: dict[tuple[str, str, int], str] = {}


def answered() -> dict[tuple[str, str, int], float]:
    """How many answers of each (method, route template, status) this process's apps have
    given so far, read from the counter every app keeps (entrypoints/api/http_metrics.py)."""
    from fitboard.adapters.process_metrics import HTTP_REQUESTS

    counts: dict[tuple[str, str, int], float] = {}
    for metric in HTTP_REQUESTS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                labels = sample.labels
                key = (labels["method"], labels["route"], int(labels["status"]))
                counts[key] = sample.value
    return counts


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
    if not item.path.is_relative_to(E2E_DIR):
        return (yield)
    before = answered()
    try:
        return (yield)
    finally:
        for key, count in answered().items():
            if count > before.get(key, 0):
                OBSERVED.setdefault(key, item.nodeid)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The check of the statuses observed runs after every other test of the session."""
    last = [item for item in items if item.path.name == "test_openapi_statuses.py"]
    items[:] = [item for item in items if item not in last] + last


class Api:
    """A thin client that speaks the public interface of ../shared/API.md."""

    def __init__(self, client: httpx.AsyncClient, app: FastAPI | None = None) -> None:
        self.client = client
        self.app = app

    async def promote(self, username: str) -> None:
        """Make an athlete an admin, as `fitboard users promote` does."""
        assert self.app is not None
        store = self.app.state.container.store
        async with store.unit_of_work() as uow:
            user = await uow.users.get_by_username(username)
            assert user is not None
            user.is_admin = True
            await uow.users.update_profile(user)
            await uow.commit()

    async def register(self, username: str, **profile: Any) -> tuple[str, dict[str, Any]]:
        body = {"username": username, "password": "correct horse battery", **profile}
        response = await self.client.post("/v1/auth/register", json=body)
        assert response.status_code == 201, response.text
        data = response.json()
        return data["access_token"], data["user"]

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def submit(self, token: str, **workout: Any) -> httpx.Response:
        return await self.client.post("/v1/workouts", json=workout, headers=self.auth(token))

    async def submit_ok(self, token: str, **workout: Any) -> str:
        response = await self.submit(token, **workout)
        assert response.status_code == 202, response.text
        workout_id: str = response.json()["id"]
        return workout_id

    async def wait_processed(
        self, token: str, workout_id: str, within_s: float = 10
    ) -> dict[str, Any]:
        async with asyncio.timeout(within_s):
            while True:
                response = await self.client.get(
                    f"/v1/workouts/{workout_id}", headers=self.auth(token)
                )
                if response.status_code == 200:
                    data: dict[str, Any] = response.json()
                    return data
                assert response.status_code == 202, response.text
                await asyncio.sleep(0.02)

    async def board(self, token: str, path: str, **params: Any) -> dict[str, Any]:
        response = await self.client.get(
            f"/v1/leaderboards/{path}", params=params, headers=self.auth(token)
        )
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    async def board_listing(
        self, token: str, path: str, entries: int, within_s: float = 10, **params: Any
    ) -> dict[str, Any]:
        """The board once it lists `entries` athletes. The worker puts a workout on the
        boards just after storing it, so a read right after `wait_processed` may come
        between the two."""
        board: dict[str, Any] = {}
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within_s):
                while True:
                    board = await self.board(token, path, **params)
                    if len(board["entries"]) >= entries:
                        return board
                    await asyncio.sleep(0.02)
        raise AssertionError(f"not {entries} entries on {path} within {within_s}s: {board}")

    async def dead_letters(
        self, admin_token: str, count: int, within_s: float = 15
    ) -> list[dict[str, Any]]:
        """The workout queue's dead letters, once there are at least `count`."""
        items: list[dict[str, Any]] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within_s):
                while True:
                    items = await self._dead_letters(admin_token)
                    if len(items) >= count:
                        return items
                    await asyncio.sleep(0.05)
        raise AssertionError(f"not {count} dead letters within {within_s}s: {items}")

    async def _dead_letters(self, admin_token: str) -> list[dict[str, Any]]:
        answer = await self.client.get("/v1/admin/dead-letters", headers=self.auth(admin_token))
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        return items


def run_at(hours_ago: float = 2.0) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat()


def start_within_its_day(hours_ago: float, room: timedelta) -> datetime:
    """`hours_ago` hours ago, or `room` before the end of that UTC day if that is earlier:
    a start whose workouts, all begun within `room` after it, fall on its day, and so in
    its week and month (the default board time zone is UTC), whenever the test runs."""
    started = datetime.now(UTC) - timedelta(hours=hours_ago)
    next_day = datetime.combine(started.date() + timedelta(days=1), time(), UTC)
    return min(started, next_day - room)


def run_outside_early_bird(hours_ago: float = 2.0) -> str:
    """`run_at`, except that a start inside the shipped early-bird window (04:00-06:00
    for these UTC athletes) moves to 03:59 of the same day, for a test that counts every
    badge a workout earns and must pass at any time of day."""
    start = datetime.now(UTC) - timedelta(hours=hours_ago)
    if 4 <= start.hour < 6:
        start = start.replace(hour=3, minute=59)
    return start.isoformat()


def settings_for(data_dir: Path) -> Settings:
    return Settings(mode="embedded", data_dir=data_dir, jwt_secret=TEST_SECRET)


@pytest.fixture(scope="session")
def migrated_postgres(postgres_url: str) -> str:
    from fitboard.adapters.sql import upgrade_database

    run_sync(upgrade_database(postgres_url))
    return postgres_url


async def _clean_production_state(database_url: str) -> None:
    """Empty every table and the session's private Redis: each test starts from nothing."""
    import redis.asyncio as redis
    from sqlalchemy import text

    from fitboard.adapters.sql import SqlStore
    from fitboard.adapters.sql.tables import metadata

    store = SqlStore(database_url)
    names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    async with store.engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE TABLE {names}"))
    await store.close()
    client = redis.Redis.from_url(SERVICES.redis_url)
    await client.flushdb()
    await client.aclose()


def production_settings(database_url: str, namespace: str, **overrides: Any) -> Settings:
    """Production mode on the session's PostgreSQL, Redis and RabbitMQ, in `namespace`."""
    return Settings(
        mode="production",
        database_url=database_url,
        redis_url=SERVICES.redis_url,
        amqp_url=SERVICES.amqp_url,
        jwt_secret=TEST_SECRET,
        namespace=namespace,
        **overrides,
    )


@asynccontextmanager
async def with_and_without_a_fast_path(
    database_url: str,
    namespace: str,
    switch: Literal["submit_fast_path", "board_read_fast_path"],
    **settings_overrides: Any,
) -> AsyncIterator[tuple[FastAPI, FastAPI, httpx.AsyncClient, httpx.AsyncClient]]:
    """Two API apps on the same production services and `namespace`: `production_app`
    (every fast path on, a worker beside it) and one made by `create_app` with its
    `switch` argument False (that fast path off); each with a client, the fast one's first."""
    async with contextlib.AsyncExitStack() as stack:
        fast_app = await stack.enter_async_context(
            production_app(database_url, namespace, **settings_overrides)
        )
        settings = production_settings(database_url, namespace, **settings_overrides)
        routed_app = create_app(
            settings,
            submit_fast_path=switch != "submit_fast_path",
            board_read_fast_path=switch != "board_read_fast_path",
        )
        await stack.enter_async_context(routed_app.router.lifespan_context(routed_app))
        fast, routed = [
            await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://f")
            )
            for app in (fast_app, routed_app)
        ]
        yield fast_app, routed_app, fast, routed


def count_route_handling(monkeypatch: pytest.MonkeyPatch, counted: Callable[[], None]) -> None:
    """Call `counted` each time one of FastAPI's routes handles a request (which the fast
    paths never let one do for a request they serve)."""
    handle = fastapi.routing.APIRoute.handle

    async def counting(route: fastapi.routing.APIRoute, *args: Any) -> None:
        counted()
        await handle(route, *args)

    monkeypatch.setattr(fastapi.routing.APIRoute, "handle", counting)


@asynccontextmanager
async def production_app(
    database_url: str, namespace: str, **settings_overrides: Any
) -> AsyncIterator[FastAPI]:
    """The API of production mode with a worker beside it, as `fitboard serve` and
    `fitboard worker` would run, on the session's PostgreSQL, Redis and RabbitMQ (and any
    other settings given)."""
    from fitboard.adapters.queue_rabbitmq import RabbitBroker
    from fitboard.bootstrap import reports_queue
    from fitboard.entrypoints.reports.runner import consume_reports, monthly_reports
    from fitboard.entrypoints.worker.runner import consume_workouts

    settings = production_settings(database_url, namespace, **settings_overrides)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        container = app.state.container
        stop = asyncio.Event()
        consumers = [
            asyncio.create_task(consume_workouts(container, stop)),
            asyncio.create_task(consume_reports(container, monthly_reports(container), stop)),
        ]
        reports = reports_queue(namespace, settings.worker_max_attempts)
        try:
            # Until both consume: a workout.processed published before the reports queue
            # exists is routed nowhere, and a worker still connecting holds up the first
            # workout's processing.
            await _until_consumed(container.broker, [container.workouts_queue, reports], consumers)
            yield app
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*consumers), timeout=30)
            broker = container.broker
            assert isinstance(broker, RabbitBroker)
            await broker.delete(container.workouts_queue)
            await broker.delete(reports)
            await broker.delete_exchanges()


async def _until_consumed(
    broker: MessageBroker,
    queues: list[QueueSpec],
    consumers: list[asyncio.Task[None]],
    within_s: float = 30,
) -> None:
    """Wait until each queue has a consumer, as the broker counts them; a consumer that
    ended meanwhile raises its error."""
    async with asyncio.timeout(within_s):
        for spec in queues:
            while True:
                for task in consumers:
                    if task.done():
                        task.result()
                        raise AssertionError(f"{task} ended before consuming")
                with contextlib.suppress(QueueUnavailable):  # not declared yet
                    if ((await broker.depth(spec)).consumers or 0) > 0:
                        break
                await asyncio.sleep(0.05)


@asynccontextmanager
async def app_in_mode(
    request: pytest.FixtureRequest, tmp_path: Path, prefix: str
) -> AsyncIterator[FastAPI]:
    """The started application in the mode of `request.param`: embedded in `tmp_path`, or
    production on the session's servers with a namespace of its own."""
    if request.param == "embedded":
        app = create_app(settings_for(tmp_path))
        async with app.router.lifespan_context(app):
            yield app
    else:
        database_url: str = request.getfixturevalue("migrated_postgres")
        await _clean_production_state(database_url)
        namespace = f"{prefix}-{uuid.uuid4().hex[:12]}"
        async with production_app(database_url, namespace) as app:
            yield app


@pytest.fixture(params=["embedded", pytest.param("production", marks=pytest.mark.production)])
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    """The whole product through its HTTP API, in each mode."""
    async with contextlib.AsyncExitStack() as stack:
        app = await stack.enter_async_context(app_in_mode(request, tmp_path, "e2e"))
        transport = httpx.ASGITransport(app=app)
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://fitboard")
        )
        yield Api(client, app)
