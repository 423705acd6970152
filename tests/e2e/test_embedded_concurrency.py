"""Embedded mode under concurrency: requests that write to the one SQLite database take
turns for it; none fails with "database is locked" (a 503)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher

from fitboard.adapters.passwords_argon2 import Argon2Passwords
from fitboard.adapters.sql import engine
from fitboard.entrypoints.api import create_app
from tests.contract.queue_adapters import bounded
from tests.e2e.conftest import Api, run_at, settings_for

PASSWORD = "correct horse battery"
ATHLETES = 24


@pytest.fixture
async def embedded_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Api]:
    # SQLite's own lock wait is cut to almost nothing: the process's writers must queue
    # before they reach it, so it is only ever needed by another process. (With writers
    # waiting in SQLite's busy handler, as before, this turned concurrency into 503s.)
    monkeypatch.setattr(engine, "SQLITE_BUSY_TIMEOUT_MS", 20)
    app = create_app(settings_for(tmp_path))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://fitboard", timeout=300
        ) as client,
    ):
        yield Api(client, app)


async def login(api: Api, username: str) -> httpx.Response:
    return await api.client.post(
        "/v1/auth/token", data={"username": username, "password": PASSWORD}
    )


async def register(api: Api, username: str) -> httpx.Response:
    return await api.client.post(
        "/v1/auth/register", json={"username": username, "password": PASSWORD}
    )


@bounded(240)
async def test_concurrent_logins_registrations_and_workouts_all_succeed(
    embedded_api: Api,
) -> None:
    api = embedded_api
    first = await asyncio.gather(*(register(api, f"early{i:02d}") for i in range(ATHLETES)))
    assert [r.status_code for r in first] == [201] * ATHLETES, [r.text for r in first]
    tokens = [r.json()["access_token"] for r in first]

    # Logins, new registrations and workouts (which the embedded worker writes) at once.
    logins = [login(api, f"early{i:02d}") for i in range(ATHLETES)]
    registrations = [register(api, f"late{i:02d}") for i in range(ATHLETES)]
    workouts = [
        api.submit(token, activity="run", started_at=run_at(), duration_s=1800, distance_m=5000)
        for token in tokens
    ]
    responses = await asyncio.gather(*logins, *registrations, *workouts)

    statuses = [r.status_code for r in responses]
    assert statuses == [200] * ATHLETES + [201] * ATHLETES + [202] * ATHLETES, [
        r.text for r in responses if r.status_code >= 300
    ]
    for token, response in zip(tokens, responses[-ATHLETES:], strict=True):
        processed = await api.wait_processed(token, response.json()["id"], within_s=120)
        assert processed["status"] == "processed"


async def test_a_login_with_an_outdated_hash_upgrades_it_and_keeps_the_profile(
    embedded_api: Api,
) -> None:
    """Since a login reads the athlete and verifies outside any transaction, the rehash
    of an outdated hash is written in a transaction of its own."""
    api = embedded_api
    assert api.app is not None
    container = api.app.state.container
    token, _user = await api.register("grace", display_name="Grace H.")
    weak = Argon2Passwords(PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    async with container.store.unit_of_work() as uow:
        stored = await uow.users.get_by_username("grace")
        assert stored is not None
        stored.password_hash = weak.hash(PASSWORD)
        await uow.users.update_profile(stored)
        await uow.commit()
    assert container.passwords.needs_rehash(stored.password_hash)

    response = await login(api, "grace")
    assert response.status_code == 200, response.text

    async with container.store.unit_of_work(read_only=True) as uow:
        upgraded = await uow.users.get_by_username("grace")
    assert upgraded is not None
    assert not container.passwords.needs_rehash(upgraded.password_hash)
    assert container.passwords.verify(upgraded.password_hash, PASSWORD)
    assert upgraded.display_name == "Grace H."
    assert (await login(api, "grace")).status_code == 200
    assert (await api.client.get("/v1/me", headers=api.auth(token))).status_code == 200
