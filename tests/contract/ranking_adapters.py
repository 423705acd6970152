"""Every adapter of the `RankingIndex` port, as one parametrised fixture.

The Redis variant uses the session's private Redis (conftest `redis_url`) and flushes it
before each test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from fitboard.adapters.ranking_memory import MemoryRanking
from fitboard.adapters.ranking_redis import RedisRanking
from fitboard.application.boards.ports import RankingIndex

RANKING_ADAPTERS = ["memory", pytest.param("redis", marks=pytest.mark.production)]


async def open_ranking(kind: str, redis_url: str | None) -> RankingIndex:
    """A fresh, empty index of the given kind."""
    if kind == "memory":
        return MemoryRanking()
    if kind == "redis" and redis_url is not None:
        client = Redis.from_url(redis_url)
        await client.flushdb()
        return RedisRanking(client)
    raise ValueError(f"no ranking adapter {kind!r}")


@pytest.fixture(name="ranking", params=RANKING_ADAPTERS)
async def ranking_fixture(request: pytest.FixtureRequest) -> AsyncIterator[RankingIndex]:
    kind: str = request.param
    # Only the Redis variant asks for the Redis URL, so the memory one runs anywhere.
    redis_url: str | None = request.getfixturevalue("redis_url") if kind == "redis" else None
    index = await open_ranking(kind, redis_url)
    try:
        yield index
    finally:
        await index.close()
