"""The private servers the outage tests crash: they really stop, and they come back on
the same port, PostgreSQL with every commit, Redis empty."""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]
import pytest
import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.services.postgres import private_postgres
from tests.services.redis import private_redis
from tests.services.running import refuses_connections

from ..contract.queue_adapters import bounded

pytestmark = pytest.mark.production


@bounded(120)
async def test_private_postgres_crashes_and_restarts_with_its_commits() -> None:
    async with private_postgres() as server:
        dsn = server.database_url.replace("+asyncpg", "", 1)
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute("CREATE TABLE kept (n int)")
            await connection.execute("INSERT INTO kept VALUES (1), (2)")
            port = server.port
            await server.stop()
            assert await refuses_connections(port)
            with pytest.raises((OSError, asyncpg.InterfaceError, asyncpg.PostgresError)):
                await connection.fetchval("SELECT 1")
        finally:
            await connection.close()

        await server.start()
        assert server.port == port
        connection = await asyncpg.connect(dsn)
        try:
            assert await connection.fetchval("SELECT sum(n) FROM kept") == 3
        finally:
            await connection.close()
    assert await refuses_connections(port)
    assert not server.directory.exists()


@bounded(60)
async def test_private_redis_is_killed_and_restarts_empty_on_its_port() -> None:
    async with private_redis() as server:
        client = redis.Redis.from_url(server.url)
        try:
            await client.set("k", "v")
            port = server.port
            await server.stop()
            assert await refuses_connections(port)
            with pytest.raises(RedisConnectionError):
                await client.get("k")
            await server.start()
            assert server.port == port
            assert await client.get("k") is None
        finally:
            await client.aclose()
    assert await refuses_connections(port)
    assert not server.directory.exists()
