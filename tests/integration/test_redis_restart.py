"""Every pooled connection is dead after Redis restarts: the next requests still succeed
(on fresh connections) instead of one failure per dead connection."""

from __future__ import annotations

import asyncio

import pytest

from fitboard.adapters.inflight_redis import RedisInFlight
from fitboard.adapters.ranking_redis import RedisRanking
from tests.services.redis import private_redis

from ..contract.queue_adapters import bounded
from .test_ranking_redis import WEEK, standing, uid

pytestmark = pytest.mark.production

CONCURRENT = 8


@bounded(120)
async def test_requests_after_a_restart_find_fresh_connections() -> None:
    async with private_redis() as server:
        ranking = RedisRanking.from_url(server.url)
        inflight = RedisInFlight(server.url)
        try:
            await ranking.load(WEEK, [standing(n, 100 * n) for n in range(1, 4)])
            # Fill the pool with several connections, as concurrent requests do.
            await asyncio.gather(*(ranking.page(WEEK, 0, 10) for _ in range(CONCURRENT)))
            await inflight.mark(uid(9), uid(1))

            await server.stop()
            await server.start()

            # Empty after the restart, and every request answered: none of the dead
            # connections surfaces as RankingUnavailable.
            loaded = await asyncio.gather(*(ranking.is_loaded(WEEK) for _ in range(CONCURRENT)))
            assert loaded == [False] * CONCURRENT
            await ranking.load(WEEK, [standing(1, 5)])
            assert (await ranking.page(WEEK, 0, 10)).entries[0].score == 5
            assert await inflight.owner(uid(9)) is None
            # The restart forgot the script that writes marks: the next mark loads it again.
            await inflight.mark(uid(9), uid(1))
            assert await inflight.owner(uid(9)) == uid(1)
        finally:
            await inflight.close()
            await ranking.close()
