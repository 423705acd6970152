"""The Redis adapter's rebuild lock over a rebuild longer than the lock's timeout: renewed
while held, so no second process gets in, and released after, even when the renewal's
cancellation is lost; and a holder that lost it all the same (another process took it)
writes nothing and fails. Runs against the
session's private Redis (and, for the renewal, its 3-node cluster too), with a lock
timeout of one second."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from redis.asyncio import Redis

from fitboard.adapters.ranking_redis import RedisRanking
from fitboard.adapters.redis_client import redis_client
from fitboard.application.boards.maintenance import BoardMaintenance
from fitboard.application.boards.ports import Projected
from fitboard.application.boards.record_instances import StandingsChunk
from fitboard.application.ports import RankingBusy, RankingUnavailable
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
from tests.lost_cancellation import WrittenCommands, ends
from tests.services.session import SERVICES

# Imported for pytest, which finds the `redis` fixture by its name.
from .redis_ranking_fixtures import redis_fixture  # noqa: F401

pytestmark = pytest.mark.production

T0 = datetime(2026, 11, 16, 7, 30, tzinfo=UTC)
WEEK = BoardKey(BoardId(Metric.CALORIES, Period.WEEK, Scope.global_()), "2026-W47")
WEEK_BASE = "fitboard:{board:calories:week:global:2026-W47}:2"
WEEK_Z, WEEK_READY, WEEK_LOCK = f"{WEEK_BASE}:z", f"{WEEK_BASE}:ready", f"{WEEK_BASE}:lock"
# Another metric's board of the same instance: rebuilt with WEEK, from the same read.
POINTS_WEEK = BoardKey(BoardId(Metric.POINTS, Period.WEEK, Scope.global_()), "2026-W47")
POINTS_LOCK = "fitboard:{board:points:week:global:2026-W47}:2:lock"
LOCK_TIMEOUT_S = 1.0
# Another process's token in the lock, as it would be once it had taken the lock over.
INTRUDER = "another-process"


def standings(first: int, count: int) -> list[VersionedStanding]:
    return [
        VersionedStanding(Standing(UUID(int=n), 10 * n, T0 + timedelta(seconds=n)), 1)
        for n in range(first, first + count)
    ]


@pytest.fixture
async def holder(redis_url: str, redis: Redis) -> AsyncIterator[RedisRanking]:
    """The rebuilding process: its lock expires a second after its last renewal."""
    index = RedisRanking(Redis.from_url(redis_url), lock_timeout_s=LOCK_TIMEOUT_S)
    try:
        yield index
    finally:
        await index.close()


async def test_on_a_cluster_a_load_longer_than_the_lock_timeout_keeps_the_lock() -> None:
    # The lock's renewal script goes to the node of the board's slot, as its release does.
    url = SERVICES.redis_cluster_url
    cluster = redis_client(url, timeout_s=5.0)
    await cluster.flushdb()
    holder = RedisRanking(cluster, lock_timeout_s=LOCK_TIMEOUT_S)
    other = RedisRanking(redis_client(url, timeout_s=5.0), lock_wait_s=0.2)
    # Bounded: a cluster out of order fails the test instead of holding up the suite.

    async def slow_record() -> AsyncIterator[list[VersionedStanding]]:
        for n in range(3):
            await asyncio.sleep(0.6)
            with pytest.raises(RankingBusy, match="being rebuilt elsewhere"):
                async with other.rebuild_lock(WEEK):
                    pytest.fail("a second rebuild got the lock of a rebuild under way")
            yield standings(1 + 100 * n, 100)

    try:
        async with asyncio.timeout(60), holder.rebuild_lock(WEEK):
            await holder.drop(WEEK)
            await holder.load(WEEK, slow_record())
        assert len(await holder.scores(WEEK)) == 300
        async with other.rebuild_lock(WEEK):
            pass
    finally:
        await holder.close()
        await other.close()


@pytest.fixture
async def other(redis_url: str, redis: Redis) -> AsyncIterator[RedisRanking]:
    """A second process (its own connection pool), which gives up on a held lock fast."""
    index = RedisRanking(Redis.from_url(redis_url), lock_wait_s=0.2)
    try:
        yield index
    finally:
        await index.close()


async def test_a_load_longer_than_the_lock_timeout_keeps_the_lock(
    holder: RedisRanking, other: RedisRanking, redis: Redis
) -> None:
    checked: list[int] = []

    async def slow_record() -> AsyncIterator[Sequence[VersionedStanding]]:
        # Five chunks 0.6 s apart: the load lasts three lock timeouts. Before each chunk
        # after the first, past the lock's first timeout, the second process is refused.
        for n in range(5):
            if n:
                await asyncio.sleep(0.6)
            if n >= 2:
                with pytest.raises(RankingBusy, match="being rebuilt elsewhere"):
                    async with other.rebuild_lock(WEEK):
                        pytest.fail("a second rebuild got the lock of a rebuild under way")
                checked.append(n)
            yield standings(1 + 100 * n, 100)

    async with holder.rebuild_lock(WEEK):
        await holder.drop(WEEK)
        await holder.load(WEEK, slow_record())
    assert checked == [2, 3, 4]
    assert await holder.is_loaded(WEEK)
    assert await redis.zcard(WEEK_Z) == 500
    # Released once the rebuild is done, not left to expire: the other gets in at once.
    assert not await redis.exists(WEEK_LOCK)
    async with other.rebuild_lock(WEEK):
        pass


async def test_a_block_left_while_its_renewal_is_sent_ends_and_releases_the_lock(
    redis_url: str, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The renewal's cancellation can be lost: redis-py sends a command through
    `asyncio.wait_for` when the client has a socket timeout, as fitboard's always has, and
    Python 3.11's `wait_for` returns the write's result instead of raising when its task is
    cancelled after the write is done but before it resumed (CPython gh-86296, fixed in
    3.12). Leaving the block at that moment must still stop the renewal, not wait for a
    renewal loop that goes on forever (a rebuild of six boards hung so, its read of the
    record left open). Deterministic: the block is left in the turn of the event loop in
    which the renewal's write completes."""
    holder = RedisRanking(redis_client(redis_url, timeout_s=5.0), lock_timeout_s=LOCK_TIMEOUT_S)
    writes = WrittenCommands(monkeypatch)

    async def rebuild() -> None:
        async with holder.rebuild_lock(WEEK):
            # The only command naming the lock while it is held is its renewal (the lock
            # is taken before the block, released after).
            await writes.written(WEEK_LOCK.encode())

    rebuilding = asyncio.create_task(rebuild())
    try:
        assert await ends(rebuilding, 30), "leaving the block waits for a renewal for ever"
        rebuilding.result()
        # Released once the block is left, not left to expire.
        assert not await redis.exists(WEEK_LOCK)
    finally:
        rebuilding.cancel()
        await holder.close()


async def test_a_rebuild_cancelled_while_leaving_the_block_is_cancelled_once_it_released(
    redis_url: str, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Leaving the block waits for the renewal to end; a cancellation of the rebuild that
    comes meanwhile is its own, not the renewal's, and must not be swallowed with the
    renewal's (the rebuild would go on, a SIGTERM unheard): the lock is released, and the
    rebuild cancelled."""
    holder = RedisRanking(redis_client(redis_url, timeout_s=5.0), lock_timeout_s=LOCK_TIMEOUT_S)
    in_flight, told_to_stop, gate = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def hold_the_renewal(packed: bytes) -> None:
        # The renewal, the lock's only script call before the gate opens (it is taken by
        # a SET, released after): once written, its sending is held up until the gate
        # opens, and stopped only then.
        if b"EVALSHA" in packed and WEEK_LOCK.encode() in packed and not gate.is_set():
            in_flight.set()
            try:
                await gate.wait()
            except asyncio.CancelledError:
                told_to_stop.set()
                await gate.wait()
                raise

    WrittenCommands(monkeypatch, after=hold_the_renewal)

    async def rebuild() -> None:
        async with holder.rebuild_lock(WEEK):
            await in_flight.wait()

    rebuilding = asyncio.create_task(rebuild())
    try:
        async with asyncio.timeout(30):
            await told_to_stop.wait()
        # The rebuild has left the block and waits for the renewal to end.
        rebuilding.cancel()
        gate.set()
        assert await ends(rebuilding, 30), "leaving the block never ended"
        assert rebuilding.cancelled(), rebuilding.exception()
        assert not await redis.exists(WEEK_LOCK)
    finally:
        gate.set()
        rebuilding.cancel()
        await holder.close()


async def test_a_rebuild_that_lost_its_lock_writes_nothing_and_fails(
    holder: RedisRanking, redis: Redis
) -> None:
    await holder.load(WEEK, standings(1, 3))

    async def rebuild() -> None:
        async with holder.rebuild_lock(WEEK):
            # The lock taken over by another process (this one out of reach past the
            # timeout, say): from now on this holder's writes are refused.
            await redis.set(WEEK_LOCK, INTRUDER)
            with pytest.raises(RankingBusy, match="drop refused"):
                await holder.drop(WEEK)
            with pytest.raises(RankingBusy, match="load refused"):
                await holder.load(WEEK, standings(10, 5))
            # Long enough for a renewal to find the lock gone: leaving the block fails.
            await asyncio.sleep(LOCK_TIMEOUT_S)

    with pytest.raises(RankingBusy, match="lost while rebuilding"):
        await rebuild()
    # The board as it was, the other process's lock left alone.
    assert await redis.zcard(WEEK_Z) == 3
    assert await redis.exists(WEEK_READY)
    assert await redis.get(WEEK_LOCK) == INTRUDER


async def test_a_lock_lost_during_a_streamed_load_leaves_the_board_not_loaded(
    holder: RedisRanking, redis: Redis
) -> None:
    async def record() -> AsyncIterator[Sequence[VersionedStanding]]:
        yield standings(1, 1000)
        await redis.set(WEEK_LOCK, INTRUDER)
        for n in range(1, 30):
            yield standings(1 + 1000 * n, 1000)

    # The load's own error comes out of the block, not masked by the lock's.
    with pytest.raises(RankingUnavailable, match="load refused"):
        async with holder.rebuild_lock(WEEK):
            await holder.load(WEEK, record())
    assert not await redis.exists(WEEK_READY)
    assert await redis.zcard(WEEK_Z) == 0
    assert await redis.get(WEEK_LOCK) == INTRUDER


async def test_a_holder_that_lost_its_lock_loads_nothing_under_the_lock_taken_again_here(
    holder: RedisRanking, redis: Redis
) -> None:
    """A rebuild whose lock expired (its process out of Redis's reach past the timeout, say)
    and was taken again by another rebuild of the same process writes nothing: its read of
    the record is older than the new lock, and a write committed before that lock went
    nowhere (the board was neither loaded nor being loaded), so its load would mark the
    board loaded without it, and the other rebuild, finding it loaded, would leave it so.
    The lock condition is the lock its own block took, not whichever one this process
    holds for the board now."""
    taken_again, done = asyncio.Event(), asyncio.Event()

    async def second() -> None:
        async with holder.rebuild_lock(WEEK):
            taken_again.set()
            await done.wait()

    async def first() -> None:
        async with holder.rebuild_lock(WEEK):
            await holder.drop(WEEK)
            read = standings(1, 3)  # the record as this rebuild read it
            await redis.delete(WEEK_LOCK)  # expired
            # Committed after the read; neither loaded nor being loaded, the board skips it.
            update = ScoreUpdate(WEEK, 500, T0)
            assert await holder.project(UUID(int=1), 2, [update]) == [Projected(WEEK, None, None)]
            again = asyncio.create_task(second())
            try:
                await taken_again.wait()
                with pytest.raises(RankingBusy, match="load refused"):
                    await holder.load(WEEK, read)
                assert not await holder.is_loaded(WEEK)
            finally:
                done.set()
                await again
            # Long enough for a renewal to find the lock gone: leaving the block fails.
            await asyncio.sleep(LOCK_TIMEOUT_S)

    with pytest.raises(RankingBusy, match="lost while rebuilding"):
        await first()
    assert not await holder.is_loaded(WEEK)


class TakenOverWhileReading:
    """A record whose read outlasts the calories board's lock: by the time it answers,
    another process holds that lock."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[TakenOverWhileReading]:
        yield self

    async def instance_chunks(
        self, period: Period, key: str, scope: Scope, metrics: Sequence[Metric]
    ) -> AsyncGenerator[StandingsChunk, None]:
        await self._redis.set(WEEK_LOCK, INTRUDER)
        rows = standings(1, 3)
        yield {metric: rows for metric in metrics}


async def test_fitboard_rebuild_fails_on_a_lost_lock_and_releases_the_others(
    holder: RedisRanking, redis: Redis
) -> None:
    none: Any = None
    record = cast(Any, TakenOverWhileReading(redis))
    maintenance = BoardMaintenance(holder, none, ZoneInfo("UTC"), record)
    with pytest.raises(RankingUnavailable, match="load refused"):
        await maintenance.rebuild_boards([WEEK, POINTS_WEEK])
    # The calories board's load is refused, and it is not loaded; its lock is left to the
    # process that took it. The points board is loaded side by side from the same read,
    # under its own lock: its load may have ended before the refusal stopped it (loaded,
    # with what was read) or not (not loaded). Either way its lock is released, not left
    # to its timeout.
    assert not await holder.is_loaded(WEEK)
    if await holder.is_loaded(POINTS_WEEK):
        read = {v.standing.user_id: v.standing.score for v in standings(1, 3)}
        assert await holder.scores(POINTS_WEEK) == read
    assert not await redis.exists(POINTS_LOCK)
    assert await redis.get(WEEK_LOCK) == INTRUDER


def test_a_lock_that_never_expires_is_refused() -> None:
    with pytest.raises(ValueError, match="lock_timeout_s must be positive"):
        RedisRanking(Redis(), lock_timeout_s=0)
