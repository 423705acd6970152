"""The names on a board come from each API process's memory (adapters/display_names_cache.py):
a warm read runs no SQL and (production) sends one command to Redis, and a rename, an
opt-out or an erased account shows on the next read, in the process that made the change
and (production) in another API process."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import event

from fitboard.entrypoints.api import create_app
from fitboard.entrypoints.api.athletes import KnownAthletes
from tests.e2e.conftest import Api, run_at
from tests.services.running import eventually

BOARD = "calories/all"
_counting: contextvars.ContextVar[bool] = contextvars.ContextVar("counting", default=False)


@contextlib.contextmanager
def sent_by_reads(
    apps: list[FastAPI], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[list[str], list[str]]]:
    """Every SQL statement run on `apps`' databases, and every command sent to Redis, by
    the requests made inside this block (the context variable leaves out what the
    in-process worker and other background tasks do meanwhile)."""
    executed: list[str] = []
    commands: list[str] = []

    def record(*args: Any) -> None:
        if _counting.get():
            executed.append(args[2])

    send = Redis.execute_command

    async def counted(self: Redis, *args: Any, **options: Any) -> Any:
        if _counting.get():
            commands.append(str(args[0]))
        return await send(self, *args, **options)  # type: ignore[no-untyped-call]

    engines = {id(e): e for e in (app.state.container.store.engine.sync_engine for app in apps)}
    token = _counting.set(True)
    monkeypatch.setattr(Redis, "execute_command", counted)
    for engine in engines.values():
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield executed, commands
    finally:
        for engine in engines.values():
            event.remove(engine, "before_cursor_execute", record)
        monkeypatch.setattr(Redis, "execute_command", send)
        _counting.reset(token)


@contextlib.asynccontextmanager
async def another_api_process(api: Api) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    """Production: a second API process on the same namespace (its own cache of names,
    told of changes only through Redis). Embedded mode is one process: the same one."""
    assert api.app is not None
    if api.app.state.container.embedded:
        yield api.client, api.app
        return
    twin = create_app(api.app.state.container.settings)
    async with twin.router.lifespan_context(twin):
        transport = httpx.ASGITransport(app=twin)
        async with httpx.AsyncClient(transport=transport, base_url="http://twin") as client:
            yield client, twin


async def names_on(client: httpx.AsyncClient, token: str) -> dict[str, str]:
    response = await client.get(
        f"/v1/leaderboards/{BOARD}", params={"limit": 10}, headers=Api.auth(token)
    )
    assert response.status_code == 200, response.text
    return {e["user_id"]: e["display_name"] for e in response.json()["entries"]}


async def neighbours_of(client: httpx.AsyncClient, token: str) -> dict[str, str]:
    response = await client.get(
        f"/v1/leaderboards/{BOARD}/me", params={"around": 5}, headers=Api.auth(token)
    )
    assert response.status_code == 200, response.text
    return {e["user_id"]: e["display_name"] for e in response.json()["neighbors"]}


async def test_a_warm_read_runs_no_sql_and_changes_show_on_the_next_read(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert api.app is not None
    athletes: dict[str, tuple[str, str]] = {}
    for name in ("ada", "bob", "cyd"):
        token, user = await api.register(name)
        athletes[name] = (token, user["id"])
        workout = await api.submit_ok(
            token, activity="run", started_at=run_at(), duration_s=1800, distance_m=5000
        )
        await api.wait_processed(token, workout)
    ada, ada_id = athletes["ada"]
    bob, _ = athletes["bob"]
    cy, _ = athletes["cyd"]
    await api.board_listing(ada, BOARD, 3)

    async with another_api_process(api) as (there, there_app):
        apps = [api.app, there_app]
        for app in apps:
            # Token checks read the record every few seconds; this test counts the board's.
            app.state.athletes = KnownAthletes(recheck_after_s=3600)
        # Warm: each process reads the board, the names and the tokens once.
        for client in (api.client, there):
            await names_on(client, bob)
            await neighbours_of(client, ada)

        with sent_by_reads(apps, monkeypatch) as (executed, commands):
            for client in (api.client, there):
                assert set((await names_on(client, bob)).values()) == {"ada", "bob", "cyd"}
                assert set((await neighbours_of(client, ada)).values()) == {"ada", "bob", "cyd"}
        assert executed == [], executed
        # One script per read (`read_page`, `read_around`); embedded mode has no Redis.
        assert commands == ([] if api.app.state.container.embedded else ["EVALSHA"] * 4)

        renamed = await api.client.patch(
            "/v1/me", json={"display_name": "Ada Lovelace"}, headers=api.auth(ada)
        )
        assert renamed.status_code == 200, renamed.text
        assert (await names_on(api.client, bob))[ada_id] == "Ada Lovelace"
        assert (await neighbours_of(api.client, bob))[ada_id] == "Ada Lovelace"

        # Another process hears of it through Redis, within moments; nothing else would
        # make it read the name again for a minute (MAX_AGE_S).
        async def renamed_there() -> bool:
            return (await names_on(there, bob))[ada_id] == "Ada Lovelace"

        await eventually(renamed_there, within_s=10, every_s=0.02)
        assert (await neighbours_of(there, cy))[ada_id] == "Ada Lovelace"

        hidden = await api.client.patch(
            "/v1/me", json={"show_on_leaderboards": False}, headers=api.auth(bob)
        )
        assert hidden.status_code == 200, hidden.text
        deleted = await api.client.delete("/v1/me", headers=api.auth(cy))
        assert deleted.status_code == 202, deleted.text
        for client in (api.client, there):
            assert await names_on(client, ada) == {ada_id: "Ada Lovelace"}
            assert await neighbours_of(client, ada) == {ada_id: "Ada Lovelace"}
