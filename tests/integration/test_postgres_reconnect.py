"""The record's pool after PostgreSQL dropped its connections (a restart, a failover, an
administrator's pg_terminate_backend): the next units of work get new connections instead
of failing on dead ones."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import uuid4

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url

from fitboard.adapters.sql import SqlStore, upgrade_database

pytestmark = pytest.mark.production

POOLED = 4


@pytest.fixture
async def store(postgres_url: str) -> AsyncIterator[SqlStore]:
    await upgrade_database(postgres_url)
    sql_store = SqlStore(postgres_url)
    yield sql_store
    await sql_store.close()


async def read_in_parallel(store: SqlStore, n: int) -> None:
    """n units of work at once, so the pool holds n connections afterwards."""

    async def one() -> None:
        async with store.unit_of_work(read_only=True) as uow:
            assert await uow.users.get(uuid4()) is None
            # Hold the connection a moment so that all n are checked out together.
            await asyncio.sleep(0.05)

    await asyncio.gather(*(one() for _ in range(n)))


async def terminate_fitboard_backends(postgres_url: str) -> int:
    url = make_url(postgres_url).set(drivername="postgresql")
    admin = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        killed: int = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = $1 AND application_name = 'fitboard'",
            url.database,
        )
    finally:
        await admin.close()
    return killed


async def test_connections_the_server_dropped_are_replaced_before_use(
    store: SqlStore, postgres_url: str
) -> None:
    await read_in_parallel(store, POOLED)
    assert await terminate_fitboard_backends(postgres_url) >= POOLED
    # The closed sockets reach the idle connections through the event loop.
    await asyncio.sleep(0.3)
    # Every pooled connection is dead; each of these would fail on one of them.
    await read_in_parallel(store, POOLED)
    async with store.unit_of_work() as uow:
        assert await uow.users.lock_and_bump_version(uuid4()) is None
        await uow.commit()
