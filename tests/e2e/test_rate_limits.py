"""Rate limits through the HTTP API, in both modes: a password-guessing loop and a flood of
workouts get 429 with Retry-After, and nothing is done for a refused request."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from fitboard.adapters.queue_rabbitmq import RabbitBroker
from fitboard.config import Settings
from fitboard.entrypoints.api import create_app
from tests.e2e.conftest import TEST_SECRET, Api, _clean_production_state, run_at, settings_for

from ..contract.queue_adapters import bounded

MODES = ["embedded", pytest.param("production", marks=pytest.mark.production)]


@asynccontextmanager
async def app_with(
    request: pytest.FixtureRequest, tmp_path: Path, **overrides: Any
) -> AsyncIterator[Api]:
    """The API alone (no worker: what is queued stays queued) with settings overridden."""
    settings: Settings
    if request.param == "embedded":
        settings = settings_for(tmp_path).model_copy(update=overrides)
    else:
        database_url = request.getfixturevalue("migrated_postgres")
        await _clean_production_state(database_url)
        settings = Settings(
            mode="production",
            database_url=database_url,
            redis_url=request.getfixturevalue("redis_url"),
            amqp_url=request.getfixturevalue("amqp_url"),
            jwt_secret=TEST_SECRET,
            namespace=f"limits-{uuid.uuid4().hex[:12]}",
            **overrides,
        )
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://fitboard") as client:
            yield Api(client, app)
        container = app.state.container
        if isinstance(container.broker, RabbitBroker):
            for queue in (container.workouts_queue, container.reports_queue):
                await container.broker.delete(queue)
            await container.broker.delete_exchanges()


async def queued(api: Api) -> int:
    """Messages waiting on the workouts queue (no worker takes them here)."""
    assert api.app is not None
    container = api.app.state.container
    stream = container.broker.consume(container.workouts_queue, prefetch=1000)
    count = 0
    # The first delivery waits for the consumer to connect; after that the queue is
    # read out when nothing more comes for a second.
    wait_s = 30.0
    try:
        while True:
            try:
                async with asyncio.timeout(wait_s):
                    await anext(stream)
            except TimeoutError:
                return count
            count += 1
            wait_s = 1.0
    finally:
        await stream.aclose()


async def stored(api: Api, token: str, expected: int) -> int:
    """The athlete's workouts in the record, once `expected` are there or 30 s passed (and
    then a second more, so that one too many would show)."""
    count = 0
    async with asyncio.timeout(31.5):
        for _ in range(300):
            page = await api.client.get("/v1/workouts", headers=api.auth(token))
            assert page.status_code == 200, page.text
            count = len(page.json()["items"])
            if count >= expected:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        page = await api.client.get("/v1/workouts", headers=api.auth(token))
        return len(page.json()["items"])


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> pytest.FixtureRequest:
    return request


@bounded(120)
async def test_a_password_guessing_loop_gets_429_with_retry_after(
    mode: pytest.FixtureRequest, tmp_path: Path
) -> None:
    async with app_with(mode, tmp_path, login_attempts_per_minute_per_username=3) as api:
        await api.register("ada")
        guesses = [
            await api.client.post("/v1/auth/token", data={"username": "ada", "password": f"x{n}"})
            for n in range(5)
        ]
        assert [r.status_code for r in guesses] == [401, 401, 401, 429, 429]
        refused = guesses[-1]
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert "too many sign-in attempts for this username" in refused.json()["detail"]
        # Even the right password waits: the budget is the account's, not the guess's.
        right = await api.client.post(
            "/v1/auth/token", data={"username": "ADA", "password": "correct horse battery"}
        )
        assert right.status_code == 429
        # Another account from the same address is not held back.
        await api.register("grace")
        other = await api.client.post(
            "/v1/auth/token", data={"username": "grace", "password": "correct horse battery"}
        )
        assert other.status_code == 200, other.text


@bounded(120)
async def test_sign_ups_from_one_address_are_bounded(
    mode: pytest.FixtureRequest, tmp_path: Path
) -> None:
    async with app_with(mode, tmp_path, registrations_per_hour_per_ip=2) as api:
        await api.register("ada")
        await api.register("grace")
        third = await api.client.post(
            "/v1/auth/register", json={"username": "linus", "password": "correct horse battery"}
        )
        assert third.status_code == 429, third.text
        assert "sign-ups from this address" in third.json()["detail"]
        # Nothing was made: the name is still free once the budget allows.
        assert int(third.headers["Retry-After"]) >= 1


@bounded(120)
async def test_a_flood_of_workouts_is_refused_and_nothing_refused_is_queued(
    mode: pytest.FixtureRequest, tmp_path: Path
) -> None:
    async with app_with(mode, tmp_path, workouts_per_minute_per_athlete=5) as api:
        token, _ = await api.register("ada")
        run = {"activity": "run", "started_at": run_at(), "duration_s": 1800}
        singles = [await api.submit(token, **run) for _ in range(3)]
        assert [r.status_code for r in singles] == [202] * 3
        # Three left in the minute: a batch of four is refused whole, one of two passes.
        batch = {"workouts": [run] * 4}
        refused = await api.client.post("/v1/workouts:batch", json=batch, headers=api.auth(token))
        assert refused.status_code == 429, refused.text
        assert "too many workouts from this athlete" in refused.json()["detail"]
        assert int(refused.headers["Retry-After"]) >= 1
        accepted = await api.client.post(
            "/v1/workouts:batch", json={"workouts": [run] * 2}, headers=api.auth(token)
        )
        assert accepted.status_code == 207, accepted.text
        last = await api.submit(token, **run)
        assert last.status_code == 429
        # An upload is charged before it is read: refused whole, nothing parsed.
        upload = await api.client.post(
            "/v1/workouts/import",
            files={"file": ("run.gpx", b"<gpx/>", "application/gpx+xml")},
            headers=api.auth(token),
        )
        assert upload.status_code == 429, upload.text
        # Another athlete has a budget of their own.
        other, _ = await api.register("grace")
        assert (await api.submit(other, **run)).status_code == 202
        if mode.param == "embedded":
            # The worker inside the app takes the queue: count what it stored.
            assert await stored(api, token, expected=5) == 5
            assert await stored(api, other, expected=1) == 1
        else:
            assert await queued(api) == 3 + 2 + 1


async def test_every_limited_operation_documents_429(
    mode: pytest.FixtureRequest, tmp_path: Path
) -> None:
    async with app_with(mode, tmp_path) as api:
        schema = (await api.client.get("/openapi.json")).json()
    for path, method in [
        ("/v1/auth/token", "post"),
        ("/v1/auth/register", "post"),
        ("/v1/workouts", "post"),
        ("/v1/workouts:batch", "post"),
        ("/v1/workouts/import", "post"),
    ]:
        documented = schema["paths"][path][method]["responses"]
        assert "429" in documented, (path, method)
        assert "Retry-After" in documented["429"]["headers"]
