"""What only the Redis adapter's loads have: the expiry `load` leaves on a board's keys,
the `:ready` marker written after every other part of a big board, and the scripts sent
again to a server that forgot them. Runs against the session's private Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from redis.asyncio import Redis

from fitboard.adapters.ranking_redis import RedisRanking
from fitboard.domain.boards import (
    BoardId,
    BoardKey,
    Metric,
    Period,
    Scope,
    Standing,
    VersionedStanding,
)

# The fixtures are imported for pytest, which finds `redis` and `ranking` by their names.
from .redis_ranking_fixtures import RETENTION_S, redis_fixture, redis_ranking_fixture  # noqa: F401

pytestmark = pytest.mark.production

T0 = datetime(2026, 11, 16, 7, 30, tzinfo=UTC)
WEEK = BoardKey(BoardId(Metric.CALORIES, Period.WEEK, Scope.global_()), "2026-W47")
ALL = BoardKey(BoardId(Metric.POINTS, Period.ALL, Scope.global_()), "all")
WEEK_BASE = "fitboard:{board:calories:week:global:2026-W47}:2"
WEEK_KEYS = [f"{WEEK_BASE}:z", f"{WEEK_BASE}:v", f"{WEEK_BASE}:ready"]
ALL_KEYS = [
    "fitboard:{board:points:all:global:all}:2:z",
    "fitboard:{board:points:all:global:all}:2:v",
    "fitboard:{board:points:all:global:all}:2:ready",
]
# Members the adapter writes in one script call is 1,000: this board takes three.
BIG = 2500


def many(count: int) -> list[VersionedStanding]:
    return [
        VersionedStanding(Standing(UUID(int=n), 10 * n, T0 + timedelta(seconds=n)), 1)
        for n in range(1, count + 1)
    ]


@pytest.mark.parametrize("size", [3, BIG])
async def test_a_load_leaves_the_expiry_of_the_boards_period(
    ranking: RedisRanking, redis: Redis, size: int
) -> None:
    # An all-time board's marker left with an expiry by an earlier deployment, beside the
    # version hash that release kept for loaded boards: loading makes the marker permanent
    # again, as `SET` without EX does, and leaves no version hash.
    await redis.set(ALL_KEYS[2], "1", ex=60)
    await redis.hset(ALL_KEYS[1], UUID(int=1).bytes, 0)
    await ranking.load(WEEK, many(size))
    await ranking.load(ALL, many(size))
    for name in (WEEK_KEYS[0], WEEK_KEYS[2]):
        assert 0 < await redis.ttl(name) <= RETENTION_S, name
    for name in (ALL_KEYS[0], ALL_KEYS[2]):
        assert await redis.ttl(name) == -1, name
    assert not await redis.exists(WEEK_KEYS[1], ALL_KEYS[1])
    assert await redis.zcard(WEEK_KEYS[0]) == size
    assert await redis.zcard(ALL_KEYS[0]) == size


async def test_a_big_board_is_marked_loaded_after_all_its_members(
    ranking: RedisRanking, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, int]] = []
    run_script = ranking._run_script

    async def watched(script: Any, calls: Sequence[tuple[Sequence[str], Sequence[Any]]]) -> Any:
        # What a reader would see just before each round trip of the load.
        seen.append((await redis.exists(WEEK_KEYS[2]), await redis.zcard(WEEK_KEYS[0])))
        return await run_script(script, calls)

    monkeypatch.setattr(ranking, "_run_script", watched)
    await ranking.load(WEEK, many(BIG))

    # The first 2,000 members in one round trip, then the last 500 with the marker.
    assert seen == [(0, 0), (0, 2000)]
    assert await redis.exists(WEEK_KEYS[2]) == 1
    assert await redis.zcard(WEEK_KEYS[0]) == BIG


async def test_a_load_sends_the_scripts_again_to_a_server_that_forgot_them(
    ranking: RedisRanking, redis: Redis
) -> None:
    await ranking.load(ALL, many(1))
    await redis.script_flush()
    # Dropped first: a load leaves a board loaded already as it is.
    await ranking.drop(ALL)
    await ranking.load(ALL, many(BIG))
    assert await ranking.is_loaded(ALL)
    assert len(await ranking.scores(ALL)) == BIG
    await redis.script_flush()
    await ranking.drop(WEEK)
    await ranking.load(WEEK, many(BIG))
    assert len(await ranking.scores(WEEK)) == BIG


async def test_a_retention_already_over_still_leaves_a_loaded_board_readable(
    redis_url: str, redis: Redis
) -> None:
    index = RedisRanking.from_url(redis_url, retention_s_for=lambda _: -5)
    try:
        await index.load(WEEK, many(2))
        assert await index.is_loaded(WEEK)
        assert len(await index.scores(WEEK)) == 2
    finally:
        await index.close()


async def test_a_streamed_load_holds_at_most_two_pipelines_of_the_stream(
    ranking: RedisRanking, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 60 chunks of 1,000: three pipelines of 20 `_LOAD` calls. The stream is read only as
    # far as one pipeline in flight, one being gathered and the chunk held back for the
    # call that marks the board loaded (41 chunks ahead of what Redis holds), not read
    # whole first; and the board is never marked before its last member is written.
    chunks, size = 60, 1000
    ahead: list[int] = []
    marked: list[int] = []
    run_script = ranking._run_script

    async def watched(script: Any, calls: Sequence[tuple[Sequence[str], Sequence[Any]]]) -> Any:
        marked.append(await redis.exists(WEEK_KEYS[2]))
        return await run_script(script, calls)

    async def record() -> AsyncIterator[list[VersionedStanding]]:
        for n in range(chunks):
            # Chunks read (this one included) beyond those Redis holds.
            ahead.append(n + 1 - await redis.zcard(WEEK_KEYS[0]) // size)
            yield [
                VersionedStanding(Standing(UUID(int=m), m, T0), 1)
                for m in range(1 + n * size, 1 + (n + 1) * size)
            ]

    monkeypatch.setattr(ranking, "_run_script", watched)
    await ranking.load(WEEK, record())

    assert max(ahead) <= 41
    assert marked == [0] * len(marked)
    assert await redis.exists(WEEK_KEYS[2]) == 1
    assert await redis.zcard(WEEK_KEYS[0]) == chunks * size


async def test_a_bad_standing_with_a_pipeline_in_flight_stops_the_load(
    ranking: RedisRanking, redis: Redis
) -> None:
    naive = VersionedStanding(Standing(UUID(int=99_999), 5, datetime(2026, 11, 16)), 1)

    async def record() -> AsyncIterator[list[VersionedStanding]]:
        # 25 chunks: a pipeline of 20 is sent after the 21st, and is in flight (or done)
        # when the bad standing comes.
        for n in range(25):
            yield [
                VersionedStanding(Standing(UUID(int=m), m, T0), 1)
                for m in range(1 + n * 1000, 1 + (n + 1) * 1000)
            ]
        yield [naive]

    with pytest.raises(ValueError, match="timezone-aware"):
        await ranking.load(WEEK, record())
    assert await redis.exists(WEEK_KEYS[2]) == 0
    assert not await ranking.is_loaded(WEEK)
