"""What only the Redis ranking adapter has: losing data, expiry, a lock across processes,
its key layout and its failure mode. Runs against the session's private Redis."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from redis.asyncio import Redis

from fitboard.adapters.ranking_memory import MemoryRanking
from fitboard.adapters.ranking_redis import RedisRanking
from fitboard.application.ports import RankingUnavailable
from fitboard.domain.activities import Activity
from fitboard.domain.boards import (
    BoardId,
    BoardKey,
    Metric,
    Period,
    RankedEntry,
    Scope,
    ScoreUpdate,
    Standing,
    VersionedStanding,
)

# The fixtures are imported for pytest, which finds `redis` and `ranking` by their names.
from .redis_ranking_fixtures import RETENTION_S, redis_fixture, redis_ranking_fixture  # noqa: F401

pytestmark = pytest.mark.production

T0 = datetime(2026, 11, 16, 7, 30, tzinfo=UTC)
WEEK = BoardKey(BoardId(Metric.CALORIES, Period.WEEK, Scope.global_()), "2026-W47")
ALL = BoardKey(BoardId(Metric.POINTS, Period.ALL, Scope.global_()), "all")
RUN_MONTH = BoardKey(
    BoardId(Metric.DISTANCE, Period.MONTH, Scope.for_activity(Activity.RUN)), "2026-11"
)
WEEK_KEYS = [
    "fitboard:{board:calories:week:global:2026-W47}:2:z",
    "fitboard:{board:calories:week:global:2026-W47}:2:v",
    "fitboard:{board:calories:week:global:2026-W47}:2:ready",
]
WEEK_LOCK = "fitboard:{board:calories:week:global:2026-W47}:2:lock"
# A loaded board's keys: it keeps no version hash (its writes come in commit order).
WEEK_LOADED_KEYS = [WEEK_KEYS[0], WEEK_KEYS[2]]


def uid(n: int) -> UUID:
    return UUID(int=n)


def standing(n: int, score: int, version: int = 1) -> VersionedStanding:
    return VersionedStanding(Standing(uid(n), score, T0), version)


async def test_the_keys_of_a_board_share_one_hash_tag(ranking: RedisRanking, redis: Redis) -> None:
    # Neither loaded nor being loaded: the board takes no write, so no key at all.
    await ranking.project(uid(1), 1, [ScoreUpdate(WEEK, 10, T0)])
    assert await redis.keys("*") == []
    async with ranking.rebuild_lock(WEEK):
        await ranking.project(uid(1), 1, [ScoreUpdate(WEEK, 10, T0)])
        assert sorted(await redis.keys("*")) == sorted([*WEEK_KEYS[:2], WEEK_LOCK])
        # The member is the id's 16 bytes (tests/integration/test_ranking_redis_layout.py).
        assert await redis.hget(WEEK_KEYS[1], uid(1).bytes) == "1"
        await ranking.load(WEEK, [])
    assert sorted(await redis.keys("*")) == sorted(WEEK_LOADED_KEYS)


async def test_a_loaded_board_keeps_no_versions(ranking: RedisRanking, redis: Redis) -> None:
    """A loaded board is its sorted set and its marker: writes, removals and removing an
    athlete add no version hash (each athlete's writes come in commit order)."""
    await ranking.load(WEEK, [standing(1, 100, version=4), standing(2, 50, version=2)])
    await ranking.project(uid(1), 5, [ScoreUpdate(WEEK, 130, T0)])
    await ranking.project(uid(3), 1, [ScoreUpdate(WEEK, 70, T0)])
    await ranking.project(uid(3), 2, [ScoreUpdate(WEEK, None, None)])
    assert await ranking.remove_athlete(uid(2), 3) == 1
    assert await ranking.scores(WEEK) == {uid(1): 130}
    assert sorted(await redis.keys("*")) == sorted(WEEK_LOADED_KEYS)
    # Being loaded again (dropped, flushed, evicted, then read), it keeps versions until
    # the load marks it loaded.
    async with ranking.rebuild_lock(WEEK):
        await ranking.drop(WEEK)
        await ranking.project(uid(1), 6, [ScoreUpdate(WEEK, 140, T0)])
        assert await redis.hget(WEEK_KEYS[1], uid(1).bytes) == "6"
        await ranking.load(WEEK, [standing(1, 130, version=5), standing(2, 50, version=2)])
    assert await ranking.scores(WEEK) == {uid(1): 140, uid(2): 50}
    assert sorted(await redis.keys("*")) == sorted(WEEK_LOADED_KEYS)


async def test_a_flushed_board_reads_as_not_loaded(ranking: RedisRanking, redis: Redis) -> None:
    await ranking.load(WEEK, [standing(1, 100), standing(2, 50)])
    assert await ranking.is_loaded(WEEK)
    await redis.flushdb()
    assert not await ranking.is_loaded(WEEK)


async def test_a_write_after_a_flush_does_not_make_the_board_loaded(
    ranking: RedisRanking, redis: Redis
) -> None:
    await ranking.load(WEEK, [standing(1, 100, version=4), standing(2, 50, version=2)])
    await redis.flushdb()
    # A worker projects one athlete before anyone reads the board again: not written.
    await ranking.project(uid(1), 5, [ScoreUpdate(WEEK, 130, T0)])
    assert not await ranking.is_loaded(WEEK)
    assert await redis.keys("*") == []
    async with ranking.rebuild_lock(WEEK):
        # One that commits after the rebuild's read: kept by the load.
        await ranking.project(uid(1), 6, [ScoreUpdate(WEEK, 140, T0)])
        assert not await ranking.is_loaded(WEEK)
        await ranking.load(WEEK, [standing(1, 130, version=5), standing(2, 50, version=2)])
    assert await ranking.is_loaded(WEEK)
    assert await ranking.scores(WEEK) == {uid(1): 140, uid(2): 50}


async def test_a_server_that_forgot_the_scripts_gets_them_again(
    ranking: RedisRanking, redis: Redis
) -> None:
    """Projection and load call the scripts by hash alone; after a restart or SCRIPT FLUSH
    the server refuses those calls, and each is sent once more after loading the script."""
    await ranking.load(WEEK, [standing(2, 50)])
    await ranking.load(RUN_MONTH, [])
    await ranking.project(uid(1), 1, [ScoreUpdate(WEEK, 10, T0)])
    await redis.script_flush()
    projected = await ranking.project(
        uid(1), 2, [ScoreUpdate(WEEK, 70, T0), ScoreUpdate(RUN_MONTH, 5, T0)]
    )
    # Each board written once: the standing before is the old one, not the new score.
    assert len(projected) == 2
    assert (projected[0].before, projected[0].after) == (
        RankedEntry(2, uid(1), 10),
        RankedEntry(1, uid(1), 70),
    )
    assert await ranking.scores(RUN_MONTH) == {uid(1): 5}
    await redis.script_flush()
    await ranking.load(ALL, [standing(3, 9)])
    assert await ranking.scores(ALL) == {uid(3): 9}


async def test_period_boards_expire_and_all_time_boards_do_not(
    ranking: RedisRanking, redis: Redis
) -> None:
    await ranking.project(uid(1), 1, [ScoreUpdate(WEEK, 10, T0), ScoreUpdate(ALL, 10, T0)])
    await ranking.load(WEEK, [standing(2, 5)])
    await ranking.load(ALL, [standing(2, 5)])
    for name in WEEK_LOADED_KEYS:
        assert 0 < await redis.ttl(name) <= RETENTION_S, name
    all_time = await redis.keys("fitboard:{board:points:all:global:all}:*")
    assert len(all_time) == 2
    for found in all_time:
        assert await redis.ttl(found) == -1, found


async def test_every_write_renews_the_expiry(ranking: RedisRanking, redis: Redis) -> None:
    await ranking.load(WEEK, [standing(1, 5)])
    for name in WEEK_LOADED_KEYS:
        await redis.expire(name, 10)
    await ranking.project(uid(2), 1, [ScoreUpdate(WEEK, 7, T0)])
    for name in WEEK_LOADED_KEYS:
        assert await redis.ttl(name) > 10, name
    # A board being loaded: its version hash expires with the rest; its lock is its
    # holder's to renew, and keeps the lock's own timeout.
    async with ranking.rebuild_lock(RUN_MONTH):
        await ranking.project(uid(2), 1, [ScoreUpdate(RUN_MONTH, 7, T0)])
        month_keys = [str(name) for name in await redis.keys("fitboard:{board:*run*}:2:[zv]")]
        assert len(month_keys) == 2
        for name in month_keys:
            await redis.expire(name, 10)
        await ranking.project(uid(2), 2, [ScoreUpdate(RUN_MONTH, 8, T0)])
        for name in month_keys:
            assert await redis.ttl(name) > 10, name
        (lock,) = await redis.keys("fitboard:{board:*run*}:2:lock")
        assert 0 < await redis.ttl(lock) <= 60


async def test_a_board_whose_sorted_set_was_evicted_is_not_loaded(
    ranking: RedisRanking, redis: Redis
) -> None:
    """Redis under `maxmemory` evicts key by key: a board whose `:z` went while its
    `:ready` stayed must read as not loaded (to be rebuilt), not as an empty board, and
    take no write that would make it look loaded with only the members written since."""
    await ranking.load(WEEK, [standing(1, 50), standing(2, 40)])
    assert await redis.get(WEEK_KEYS[2]) == "1"
    await redis.delete(WEEK_KEYS[0])  # as an eviction would

    assert not await ranking.is_loaded(WEEK)
    assert await ranking.read_page(WEEK, 0, 10) is None
    assert await ranking.read_around(WEEK, uid(1), 2) is None
    assert WEEK not in await ranking.loaded_keys()
    assert WEEK in await ranking.held_keys()
    await ranking.project(uid(3), 1, [ScoreUpdate(WEEK, 70, T0)])
    assert not await redis.exists(WEEK_KEYS[0])

    # Its rebuild, as a reader's: dropped under the lock, loaded again.
    async with ranking.rebuild_lock(WEEK):
        await ranking.drop(WEEK)
        await ranking.load(WEEK, [standing(1, 50), standing(2, 40), standing(3, 70)])
    assert await ranking.is_loaded(WEEK)
    page = await ranking.read_page(WEEK, 0, 10)
    assert page is not None
    assert [e.user_id for e in page.entries] == [uid(3), uid(1), uid(2)]


async def test_an_empty_loaded_board_is_marked_so_and_stays_loaded_as_members_come_and_go(
    ranking: RedisRanking, redis: Redis
) -> None:
    """A board loaded with no member has no sorted set at all (Redis keeps no empty one):
    its marker says it is loaded and empty ("0"), and writes keep the marker in step."""
    await ranking.load(WEEK, [])
    assert await redis.get(WEEK_KEYS[2]) == "0"
    assert await ranking.is_loaded(WEEK)
    assert WEEK in await ranking.loaded_keys()
    page = await ranking.read_page(WEEK, 0, 10)
    assert page is not None
    assert page.total == 0

    await ranking.project(uid(1), 1, [ScoreUpdate(WEEK, 10, T0)])
    assert await redis.get(WEEK_KEYS[2]) == "1"
    await ranking.project(uid(1), 2, [ScoreUpdate(WEEK, None, None)])
    assert not await redis.exists(WEEK_KEYS[0])
    assert await redis.get(WEEK_KEYS[2]) == "0"
    assert await ranking.is_loaded(WEEK)
    # The marker keeps the board's expiry when it changes.
    assert 0 < await redis.ttl(WEEK_KEYS[2]) <= RETENTION_S
    await ranking.project(uid(2), 1, [ScoreUpdate(WEEK, 20, T0)])
    assert await ranking.scores(WEEK) == {uid(2): 20}
    assert await redis.get(WEEK_KEYS[2]) == "1"


async def test_a_removal_into_a_board_being_loaded_expires_with_the_board(
    ranking: RedisRanking, redis: Redis
) -> None:
    """An account deleted while a board is being loaded leaves the athlete's version in
    the board's `:v`, so that the load cannot bring them back. Should that load never
    finish (its process killed), the version expires with the board, as a projection's
    write into it would; on an all-time board, as theirs, it does not."""
    async with ranking.rebuild_lock(WEEK), ranking.rebuild_lock(ALL):
        assert await ranking.remove_athlete(uid(1), 4) == 0
        assert await redis.hget(WEEK_KEYS[1], uid(1).bytes) == "4"
        assert 0 < await redis.ttl(WEEK_KEYS[1]) <= RETENTION_S
        all_versions = "fitboard:{board:points:all:global:all}:2:v"
        assert await redis.hget(all_versions, uid(1).bytes) == "4"
        assert await redis.ttl(all_versions) == -1


async def test_a_retention_already_over_still_leaves_the_board_readable(
    redis_url: str, redis: Redis
) -> None:
    index = RedisRanking.from_url(redis_url, retention_s_for=lambda _: -5)
    try:
        await index.load(WEEK, [standing(1, 5)])
        assert await index.is_loaded(WEEK)
        assert await index.scores(WEEK) == {uid(1): 5}
    finally:
        await index.close()


async def test_the_rebuild_lock_excludes_a_second_holder(redis_url: str, redis: Redis) -> None:
    # Two adapters on two connection pools stand for two processes.
    first = RedisRanking.from_url(redis_url)
    second = RedisRanking(Redis.from_url(redis_url), lock_wait_s=0.2)
    try:
        async with first.rebuild_lock(WEEK):
            with pytest.raises(RankingUnavailable, match="being rebuilt"):
                async with second.rebuild_lock(WEEK):
                    pytest.fail("a second holder got in")
        # Released: the second one gets in now.
        async with second.rebuild_lock(WEEK):
            pass
    finally:
        await first.close()
        await second.close()


async def test_a_waiter_gets_the_rebuild_lock_once_it_is_released(
    redis_url: str, redis: Redis
) -> None:
    first = RedisRanking.from_url(redis_url)
    second = RedisRanking(Redis.from_url(redis_url), lock_wait_s=5.0)
    order: list[str] = []
    held = asyncio.Event()

    async def hold() -> None:
        async with first.rebuild_lock(WEEK):
            held.set()
            await asyncio.sleep(0.2)
            order.append("first done")

    async def wait() -> None:
        await held.wait()
        async with second.rebuild_lock(WEEK):
            order.append("second in")

    try:
        await asyncio.gather(hold(), wait())
        assert order == ["first done", "second in"]
    finally:
        await first.close()
        await second.close()


async def test_a_lock_left_by_a_crashed_holder_frees_itself(redis_url: str, redis: Redis) -> None:
    # A process killed mid-rebuild leaves its lock behind, never released: only the lock's
    # own timeout frees it.
    assert await redis.lock(WEEK_LOCK, timeout=0.3).acquire(blocking=False)
    waiter = RedisRanking(Redis.from_url(redis_url), lock_wait_s=3.0)
    try:
        async with waiter.rebuild_lock(WEEK):
            assert await redis.exists(WEEK_LOCK)
        assert not await redis.exists(WEEK_LOCK)
    finally:
        await waiter.close()


async def test_loaded_keys_ignores_keys_it_did_not_write(
    ranking: RedisRanking, redis: Redis
) -> None:
    await ranking.load(RUN_MONTH, [standing(1, 5)])
    await redis.set("fitboard:{board:calories:week:nonsense}:2:ready", "1")
    await redis.set("fitboard:{board:kilojoules:week:global:2026-W47}:2:ready", "1")
    group_upper = "6F9619FF-8B86-D011-B42D-00CF4FC964FF"
    await redis.set(f"fitboard:{{board:calories:week:group:{group_upper}:2026-W47}}:2:ready", "1")
    await redis.set("someone-else:2:ready", "1")
    # A board of the layout before (no `:2`): not one of this layout's.
    await redis.set("fitboard:{board:calories:week:global:2026-W47}:ready", "1")
    assert await ranking.loaded_keys() == [RUN_MONTH]
    assert await ranking.held_keys() == [RUN_MONTH]


async def test_memory_and_redis_list_a_random_board_identically(
    ranking: RedisRanking, redis: Redis
) -> None:
    """The embedded mode is honest only if it orders exactly as Redis does, including ties
    within one second and scores large enough to coarsen the tie-break."""
    rng = random.Random(2026)
    memory = MemoryRanking()
    users = [uuid4() for _ in range(300)]
    for version in range(1, 4):
        for user in rng.sample(users, 200):
            score = rng.choice([None, rng.randint(1, 40), rng.randint(2**30, 2**30 + 3)])
            moment = T0 + timedelta(seconds=rng.randint(0, 5), microseconds=rng.randint(0, 999))
            updates = [ScoreUpdate(WEEK, score, moment if score is not None else None)]
            # Versions jitter, so some writes arrive stale and must be ignored by both.
            jittered = version + rng.randint(-1, 1)
            for index in (memory, ranking):
                await index.project(user, jittered, updates)
    assert await memory.scores(WEEK) == await ranking.scores(WEEK)
    for offset, limit in ((0, 1000), (0, 7), (13, 29), (150, 400)):
        assert await memory.page(WEEK, offset, limit) == await ranking.page(WEEK, offset, limit)
    for user in users:
        assert await memory.standing(WEEK, user) == await ranking.standing(WEEK, user)
        assert await memory.around(WEEK, user, 3) == await ranking.around(WEEK, user, 3)


async def test_a_client_that_decodes_responses_is_refused(redis_url: str) -> None:
    # Members are raw bytes, which such a client would fail to decode (some of them only).
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        with pytest.raises(ValueError, match="does not decode responses"):
            RedisRanking(client)
    finally:
        await client.aclose()


async def test_an_unreachable_server_is_ranking_unavailable() -> None:
    # Nothing listens on port 1 of loopback: the connection is refused at once.
    index = RedisRanking.from_url("redis://127.0.0.1:1/13", socket_timeout_s=1.0)
    try:
        with pytest.raises(RankingUnavailable):
            await index.ping()
        with pytest.raises(RankingUnavailable):
            await index.project(uid(1), 1, [ScoreUpdate(WEEK, 5, T0)])
        with pytest.raises(RankingUnavailable):
            await index.page(WEEK, 0, 10)
        with pytest.raises(RankingUnavailable):
            await index.loaded_keys()
        with pytest.raises(RankingUnavailable):
            async with index.rebuild_lock(WEEK):
                pytest.fail("got a lock from no server")
    finally:
        await index.close()


async def test_deployments_with_their_own_namespace_share_a_redis_database(
    redis_url: str, redis: Redis
) -> None:
    ours = RedisRanking.from_url(redis_url, namespace="club-a")
    theirs = RedisRanking.from_url(redis_url, namespace="club-b")
    try:
        await ours.load(WEEK, [standing(1, 100)])
        await theirs.load(WEEK, [standing(2, 70)])
        await theirs.project(uid(3), 1, [ScoreUpdate(WEEK, 90, T0)])
        assert await ours.scores(WEEK) == {uid(1): 100}
        assert await theirs.scores(WEEK) == {uid(2): 70, uid(3): 90}
        assert await ours.loaded_keys() == [WEEK]
        assert await theirs.loaded_keys() == [WEEK]
        keys = map(str, await redis.keys("*"))  # decoded: the client decodes responses
        assert all(n.startswith(("club-a:{", "club-b:{")) for n in keys)
    finally:
        await ours.close()
        await theirs.close()
