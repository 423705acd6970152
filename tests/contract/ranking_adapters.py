"""Every adapter of the `RankingIndex` port, as one parametrised fixture.

The Redis variant uses the session's private Redis (conftest `redis_url`) and flushes it
before each test; the Redis Cluster variant does the same on the session's 3-node cluster
(`SERVICES.redis_cluster_url`), through the client `redis_client` builds for its URL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from fitboard.adapters.ranking_memory import MemoryRanking
from fitboard.adapters.ranking_redis import RedisRanking
from fitboard.adapters.redis_client import redis_client
from fitboard.application.boards.ports import RankingIndex
from tests.services.session import SERVICES

RANKING_ADAPTERS = [
    "memory",
    pytest.param("redis", marks=pytest.mark.production),
    pytest.param("redis-cluster", marks=pytest.mark.production),
]


async def open_ranking(kind: str, redis_url: str | None) -> RankingIndex:
    """A fresh, empty index of the given kind."""
    if kind == "memory":
        return MemoryRanking()
    if kind == "redis" and redis_url is not None:
        client = Redis.from_url(redis_url)
        await client.flushdb()
        return RedisRanking(client)
    if kind == "redis-cluster" and redis_url is not None:
        cluster = redis_client(redis_url, timeout_s=5.0)
        # FLUSHDB goes to every primary.
        await cluster.flushdb()
        return RedisRanking(cluster)
    raise ValueError(f"no ranking adapter {kind!r}")


@pytest.fixture(name="ranking", params=RANKING_ADAPTERS)
async def ranking_fixture(request: pytest.FixtureRequest) -> AsyncIterator[RankingIndex]:
    kind: str = request.param
    # Only the Redis variants start a Redis, so the memory one runs anywhere.
    redis_url: str | None = None
    if kind == "redis":
        redis_url = request.getfixturevalue("redis_url")
    elif kind == "redis-cluster":
        redis_url = SERVICES.redis_cluster_url
    index = await open_ranking(kind, redis_url)
    try:
        yield index
    finally:
        await index.close()
