"""The fixtures of the Redis ranking adapter's own tests, on the session's private Redis
(conftest `redis_url`): `redis`, a raw client that empties the database first, and
`ranking`, the adapter on that database with `retention` (an hour for a board of a
period, none for an all-time board).

A test module imports the fixture functions it uses (pytest finds a fixture by the name it
is registered under, `name=`, among the module's globals)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from fitboard.adapters.ranking_redis import RedisRanking
from fitboard.domain.boards import BoardKey, Period

RETENTION_S = 3600


def retention(key: BoardKey) -> int | None:
    """The expiry the `ranking` fixture gives a board's keys: RETENTION_S, or none for an
    all-time board."""
    return None if key.board.period is Period.ALL else RETENTION_S


@pytest.fixture(name="redis")
async def redis_fixture(redis_url: str) -> AsyncIterator[Redis]:
    """A raw client on the session's private Redis, emptied first."""
    client = Redis.from_url(redis_url, decode_responses=True)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(name="ranking")
async def redis_ranking_fixture(redis_url: str, redis: Redis) -> AsyncIterator[RedisRanking]:
    """The adapter on the same Redis, once `redis` has emptied it, with `retention`."""
    index = RedisRanking.from_url(redis_url, retention_s_for=retention)
    try:
        yield index
    finally:
        await index.close()
