"""`RankingIndex.scores_many`: each board's members and scores, in the order asked, in
one call, as `scores` gives them; against the memory and Redis adapters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from redis.asyncio import Redis

from fitboard.adapters.ranking_redis import RedisRanking
from fitboard.application.boards.ports import RankingIndex
from fitboard.domain.activities import Activity
from fitboard.domain.boards import (
    BoardId,
    BoardKey,
    Metric,
    Period,
    Scope,
    ScoreUpdate,
    Standing,
    VersionedStanding,
)

# Imported for pytest, which finds the parametrised `ranking` fixture by its name.
from .ranking_adapters import ranking_fixture  # noqa: F401

T0 = datetime(2026, 11, 16, 7, 30, tzinfo=UTC)
LOADED = BoardKey(BoardId(Metric.CALORIES, Period.WEEK, Scope.global_()), "2026-W47")
PROJECTED = BoardKey(
    BoardId(Metric.DISTANCE, Period.DAY, Scope.for_activity(Activity.RUN)), "2026-11-16"
)
EMPTY = BoardKey(BoardId(Metric.POINTS, Period.MONTH, Scope.global_()), "2026-11")
MISSING = BoardKey(BoardId(Metric.WORKOUTS, Period.ALL, Scope.global_()), "all")


def standings(scores: dict[UUID, int]) -> list[VersionedStanding]:
    return [
        VersionedStanding(Standing(user, score, T0 + timedelta(seconds=n)), 1)
        for n, (user, score) in enumerate(scores.items())
    ]


async def test_scores_many_reads_each_board_in_order(ranking: RankingIndex) -> None:
    loaded = {UUID(int=n): 1000 * n + 7 for n in range(1, 6)}
    await ranking.load(LOADED, standings(loaded))
    await ranking.load(EMPTY, [])
    # Projected into while being loaded, the load not finished; one member removed again.
    async with ranking.rebuild_lock(PROJECTED):
        await ranking.project(UUID(int=1), 1, [ScoreUpdate(PROJECTED, 42, T0)])
        await ranking.project(UUID(int=2), 1, [ScoreUpdate(PROJECTED, 5, T0)])
        await ranking.project(UUID(int=2), 2, [ScoreUpdate(PROJECTED, None, None)])

    asked = [MISSING, LOADED, PROJECTED, EMPTY, LOADED]
    found = await ranking.scores_many(asked)

    assert found == [{}, loaded, {UUID(int=1): 42}, {}, loaded]
    assert found == [await ranking.scores(key) for key in asked]
    assert await ranking.scores_many([]) == []


@pytest.mark.production
@pytest.mark.parametrize("protocol", [2, 3])
async def test_redis_reads_a_board_larger_than_one_reply_whole(
    redis_url: str, protocol: int
) -> None:
    """A board that fills the pipelined reply is read again with ZSCAN: every member,
    not just the first reply's; with either protocol's reply shape."""
    client = Redis.from_url(redis_url, protocol=protocol)
    await client.flushdb()
    ranking = RedisRanking(client)
    try:
        large = {UUID(int=n): n for n in range(1, 8)}
        await ranking.load(LOADED, standings(large))
        await ranking.load(EMPTY, standings({UUID(int=9): 3}))

        found = await ranking.scores_many([LOADED, EMPTY, MISSING], reply_members=3)

        assert found == [large, {UUID(int=9): 3}, {}]
    finally:
        await ranking.close()
