"""`RankingIndex.rebuild_locks`, `drop_many` and `load_many`: many boards' rebuild locks
taken at once (those another holder has left out), the boards dropped and loaded many to
a round trip, as reconcile's warming does. On memory, Redis and a Redis Cluster (the
parametrised `ranking` fixture); a lock lost under `rebuild_locks` on the Redis variants
only (memory's locks are never lost)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime, timedelta
from uuid import UUID

import pytest

from fitboard.adapters.ranking_redis import RedisRanking, _keys
from fitboard.adapters.redis_client import redis_client
from fitboard.application.boards.ports import RankingIndex
from fitboard.application.ports import RankingBusy, RankingUnavailable
from fitboard.domain.boards import (
    BoardId,
    BoardKey,
    Metric,
    Period,
    Scope,
    Standing,
    VersionedStanding,
)
from fitboard.domain.periods import period_key
from tests.services.session import SERVICES

# Imported for pytest, which finds the parametrised `ranking` fixture by its name.
from .ranking_adapters import RANKING_ADAPTERS, ranking_fixture  # noqa: F401
from .test_ranking_contract import ALL, T0, WEEK, being_loaded, loaded, put, uid

DAY0 = date(2026, 1, 1)
# A board bigger than one `_LOAD` call of the Redis adapter (1,000 standings).
BIG = 2500

Loads = list[tuple[BoardKey, Sequence[VersionedStanding]]]


def day_board(n: int, metric: Metric = Metric.POINTS) -> BoardKey:
    """The global `metric` board of the day `n` days after DAY0."""
    return BoardKey(
        BoardId(metric, Period.DAY, Scope.global_()),
        period_key(Period.DAY, DAY0 + timedelta(days=n)),
    )


def standings(board: int, count: int, *, version: int = 1) -> list[VersionedStanding]:
    """Athletes 1..count, each one's score telling the board apart (1000 * board + n): a
    board given another's standings would not score as its own."""
    return [
        VersionedStanding(Standing(uid(n), 1000 * board + n, T0 + timedelta(seconds=n)), version)
        for n in range(1, count + 1)
    ]


def scores_of(rows: Sequence[VersionedStanding]) -> dict[UUID, int]:
    return {v.standing.user_id: v.standing.score for v in rows}


async def lock_is_free(ranking: RankingIndex, key: BoardKey) -> bool:
    """Whether `rebuild_lock(key)` enters at once (a lock held would keep it waiting for
    far longer: Redis's waits up to 15 s, memory's until released)."""
    try:
        async with asyncio.timeout(2), ranking.rebuild_lock(key):
            return True
    except TimeoutError:
        return False


# --------------------------------------------------------------------------- rebuild_locks


async def test_rebuild_locks_takes_the_free_locks_and_leaves_out_one_another_holds(
    ranking: RankingIndex,
) -> None:
    keys = [day_board(n) for n in range(5)]
    elsewhere = keys[2]
    theirs = standings(99, 3)
    holding, done = asyncio.Event(), asyncio.Event()

    async def other_holder() -> None:
        async with ranking.rebuild_lock(elsewhere):
            await ranking.drop(elsewhere)
            await ranking.load(elsewhere, theirs)
            holding.set()
            await done.wait()

    other = asyncio.create_task(other_holder())
    try:
        await holding.wait()
        async with ranking.rebuild_locks(keys) as taken:
            assert taken == [k for k in keys if k != elsewhere]
            # What warming does with the boards it took: the other holder's is not one.
            await ranking.drop_many(taken)
            await ranking.load_many([(k, standings(n, 2)) for n, k in enumerate(taken)])
            assert await ranking.scores(elsewhere) == scores_of(theirs)
            assert await ranking.is_loaded(elsewhere)
            # Every lock held, theirs too (not taken over): a second taker gets none.
            async with ranking.rebuild_locks(keys) as again:
                assert again == []
        # Leaving the block released only this holder's locks.
        async with ranking.rebuild_locks(keys) as after:
            assert after == [k for k in keys if k != elsewhere]
    finally:
        done.set()
        await other
    for n, key in enumerate(k for k in keys if k != elsewhere):
        assert await ranking.scores(key) == scores_of(standings(n, 2))
        assert await ranking.is_loaded(key)
    assert await ranking.scores(elsewhere) == scores_of(theirs)
    for key in keys:
        assert await lock_is_free(ranking, key), key


async def test_rebuild_locks_leaves_out_those_an_outer_rebuild_locks_holds(
    ranking: RankingIndex,
) -> None:
    first, second, third = day_board(0), day_board(1), day_board(2)
    async with ranking.rebuild_locks([first, second]) as outer:
        assert outer == [first, second]

        async def inner() -> list[BoardKey]:
            async with ranking.rebuild_locks([first, second, third]) as taken:
                return taken

        assert await asyncio.create_task(inner()) == [third]
        # The inner block's end released its own lock only.
        async with ranking.rebuild_locks([first, second, third]) as again:
            assert again == [third]
    for key in (first, second, third):
        assert await lock_is_free(ranking, key), key


async def test_rebuild_locks_of_no_keys_and_of_a_key_given_twice(ranking: RankingIndex) -> None:
    async with ranking.rebuild_locks([]) as none:
        assert none == []
    async with ranking.rebuild_locks([WEEK, WEEK, ALL]) as taken:
        # Taken once: the second time it is held (by this holder).
        assert taken == [WEEK, ALL]
    assert await lock_is_free(ranking, WEEK)
    assert await lock_is_free(ranking, ALL)


async def test_rebuild_locks_does_not_wait_for_a_lock_just_handed_to_a_waiter(
    ranking: RankingIndex,
) -> None:
    """A lock released to a task waiting for it is that task's: `rebuild_locks` does not
    queue behind it (memory: the lock is unlocked until the waiter runs), and whether it
    takes it (Redis: free until the waiter's next try) or not, it returns at once."""

    async def wait_then_hold() -> None:
        async with ranking.rebuild_lock(WEEK):
            await asyncio.sleep(3)

    # Held by this task, so that its release gives the loop no turn in which the waiter
    # could take it (the memory adapter's release is synchronous).
    lock = ranking.rebuild_lock(WEEK)
    await lock.__aenter__()
    waiter = asyncio.create_task(wait_then_hold())
    await asyncio.sleep(0.1)  # the waiter is waiting for the lock
    await lock.__aexit__(None, None, None)
    try:
        async with asyncio.timeout(1):
            async with ranking.rebuild_locks([WEEK, ALL]) as taken:
                assert ALL in taken
    finally:
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)


async def test_boards_under_rebuild_locks_take_writes_versioned_and_others_none(
    ranking: RankingIndex,
) -> None:
    """A board whose lock `rebuild_locks` holds is being loaded, as under `rebuild_lock`:
    a projection into it is kept with its version, and a load of an older version of the
    athlete does not overwrite it. A board neither loaded nor locked takes no write
    (compare test_a_board_takes_writes_only_while_being_loaded_or_loaded)."""
    unlocked = day_board(9)
    async with ranking.rebuild_locks([WEEK, ALL]) as taken:
        assert taken == [WEEK, ALL]
        await ranking.drop_many(taken)
        # Committed after the load's read of the record (versions 6 and 3).
        await put(ranking, uid(1), 500, version=7)
        await put(ranking, uid(1), 450, version=6)  # older than the one kept: ignored
        await put(ranking, uid(1), 800, version=7, key=unlocked)
        assert await ranking.scores(WEEK) == {uid(1): 500}
        assert not await ranking.is_loaded(WEEK)
        assert await ranking.scores(unlocked) == {}
        await ranking.load_many(
            [
                (
                    WEEK,
                    [
                        VersionedStanding(Standing(uid(1), 300, T0), 6),
                        VersionedStanding(Standing(uid(2), 400, T0), 3),
                    ],
                ),
                (ALL, [VersionedStanding(Standing(uid(1), 300, T0), 6)]),
            ]
        )
    assert await ranking.is_loaded(WEEK)
    assert await ranking.scores(WEEK) == {uid(1): 500, uid(2): 400}
    assert await ranking.is_loaded(ALL)
    assert await ranking.scores(ALL) == {uid(1): 300}
    assert not await ranking.is_loaded(unlocked)
    assert unlocked not in await ranking.held_keys()


# --------------------------------------------------------------------------- drop_many


async def test_drop_many_forgets_every_board_given_and_leaves_the_others(
    ranking: RankingIndex,
) -> None:
    keys = [day_board(n) for n in range(5)]
    await ranking.load_many([(k, standings(n, 3)) for n, k in enumerate(keys)])
    never_loaded = day_board(50)
    async with ranking.rebuild_locks([*keys[:2], never_loaded]) as taken:
        assert await ranking.drop_many(taken) == len(taken)
    # Without a lock too (as `drop`), and nothing to do on an empty list.
    await ranking.drop_many([keys[2]])
    await ranking.drop_many([])
    for key in keys[:3]:
        assert await ranking.scores(key) == {}, key
        assert not await ranking.is_loaded(key), key
        assert (await ranking.page(key, 0, 10)).total == 0, key
    for n, key in enumerate(keys[3:], start=3):
        assert await ranking.scores(key) == scores_of(standings(n, 3)), key
        assert await ranking.is_loaded(key), key
    assert await ranking.held_keys() == sorted(keys[3:])


async def test_drop_many_keeping_loaded_boards_drops_only_those_not_loaded(
    ranking: RankingIndex,
) -> None:
    kept, partial, projected = day_board(0), day_board(1), day_board(2)
    await ranking.load(kept, standings(0, 3))
    # Written while being loaded, never marked loaded: an interrupted load's leftovers.
    async with ranking.rebuild_locks([partial, projected]) as taken:
        assert taken == [partial, projected]
        await put(ranking, uid(1), 40, key=partial)
        await put(ranking, uid(2), 30, key=projected)
    assert await ranking.held_keys() == sorted([kept, partial, projected])
    async with ranking.rebuild_locks([kept, partial, projected]) as taken:
        assert await ranking.drop_many(taken, keep_loaded=True) == 2
    assert await ranking.is_loaded(kept)
    assert await ranking.scores(kept) == scores_of(standings(0, 3))
    assert await ranking.held_keys() == [kept]


# --------------------------------------------------------------------------- load_many


async def test_load_many_loads_each_board_with_exactly_its_standings(
    ranking: RankingIndex,
) -> None:
    """Hundreds of small boards, an empty one, ones of exactly one and just over one Redis
    `_LOAD` call, a big one among them, and more members in all than one Redis pipeline
    of loads holds (20,000): each board loaded with its own standings."""
    loads: Loads = [(day_board(n), standings(n, n % 5 + 1)) for n in range(300)]
    loads += [(day_board(n, Metric.DISTANCE), standings(300 + n, 1000)) for n in range(20)]
    big = day_board(0, Metric.CALORIES)
    empty = day_board(1, Metric.CALORIES)
    loads.insert(150, (big, standings(400, BIG)))
    loads.insert(151, (empty, []))
    loads.append((day_board(2, Metric.CALORIES), standings(401, 1001)))
    keys = [key for key, _ in loads]
    async with ranking.rebuild_locks(keys) as taken:
        assert taken == keys
        await ranking.drop_many(taken)
        await ranking.load_many(loads)
    for key, rows in loads:
        assert await ranking.is_loaded(key), key
        assert await ranking.scores(key) == scores_of(rows), key
    assert await ranking.loaded_keys() == sorted(keys)
    page = await ranking.page(big, 0, 2)
    assert page.total == BIG
    assert [(e.rank, e.user_id, e.score) for e in page.entries] == [
        (1, uid(BIG), 400_000 + BIG),
        (2, uid(BIG - 1), 400_000 + BIG - 1),
    ]
    assert (await ranking.page(empty, 0, 10)).total == 0


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (Standing(uid(9999), 5, datetime(2026, 11, 16)), "timezone-aware"),
        (Standing(uid(9999), -1, T0), "board score"),
        (Standing(uid(9999), 2**53, T0), "board score"),
    ],
    ids=["naive-reached-at", "negative-score", "score-too-big"],
)
async def test_a_bad_standing_in_the_last_board_fails_load_many_before_any_board_is_written(
    ranking: RankingIndex, bad: Standing, error: str
) -> None:
    # Small boards, a big one (loaded by chunks of its own in Redis), then the bad one.
    loads: Loads = [(day_board(n), standings(n, 3)) for n in range(10)]
    loads.append((day_board(0, Metric.CALORIES), standings(20, BIG)))
    loads.append((WEEK, [*standings(21, 5), VersionedStanding(bad, 1)]))
    keys = [key for key, _ in loads]
    async with ranking.rebuild_locks(keys) as taken:
        assert taken == keys
        with pytest.raises(ValueError, match=error):
            await ranking.load_many(loads)
    for key in keys:
        assert not await ranking.is_loaded(key), key
        assert await ranking.scores(key) == {}, key
    assert await ranking.held_keys() == []


async def test_load_many_leaves_a_board_loaded_already_as_it_is(ranking: RankingIndex) -> None:
    big = day_board(0)
    await loaded(ranking, WEEK)
    await put(ranking, uid(1), 100)
    await ranking.load(big, standings(1, 1500))
    # Written since it was loaded: may be newer than the load's read, whatever its version.
    await put(ranking, uid(2), 50, key=big)
    await ranking.load_many(
        [
            (WEEK, [VersionedStanding(Standing(uid(1), 999, T0), 9), *standings(2, 3, version=9)]),
            (big, standings(3, 1500, version=9)),
            (ALL, standings(4, 2)),
        ]
    )
    assert await ranking.scores(WEEK) == {uid(1): 100}
    assert await ranking.scores(big) == scores_of(standings(1, 1500)) | {uid(2): 50}
    assert await ranking.is_loaded(ALL)
    assert await ranking.scores(ALL) == scores_of(standings(4, 2))


async def test_load_many_into_a_board_being_loaded_by_rebuild_lock_keeps_its_versions(
    ranking: RankingIndex,
) -> None:
    """`load_many` under `rebuild_lock` (several boards of one instance, as `being_loaded`
    holds them) is `load` of each: a newer projection survives it, an older one not."""
    async with being_loaded(ranking, WEEK, ALL):
        await put(ranking, uid(1), 700, version=5)
        await put(ranking, uid(2), 10, version=1, key=ALL)
        await ranking.load_many(
            [
                (WEEK, [VersionedStanding(Standing(uid(1), 60, T0), 4), *standings(1, 3)[1:]]),
                (ALL, [VersionedStanding(Standing(uid(2), 20, T0), 2)]),
            ]
        )
    assert await ranking.scores(WEEK) == {uid(1): 700, uid(2): 1002, uid(3): 1003}
    assert await ranking.scores(ALL) == {uid(2): 20}


# --------------------------------------------------------------------------- a lost lock

LOCK_TIMEOUT_S = 1.0


@pytest.fixture(name="redis_ranking", params=[p for p in RANKING_ADAPTERS if p != "memory"])
async def redis_ranking_fixture(request: pytest.FixtureRequest) -> AsyncIterator[RedisRanking]:
    """The Redis variants of `ranking` (memory's locks are never lost), with a lock that
    expires a second after its last renewal, so a renewal finds one lost within the
    test."""
    kind: str = request.param
    url: str = (
        request.getfixturevalue("redis_url") if kind == "redis" else SERVICES.redis_cluster_url
    )
    client = redis_client(url, timeout_s=5.0)
    # FLUSHDB goes to every primary of a cluster.
    await client.flushdb()
    index = RedisRanking(client, lock_timeout_s=LOCK_TIMEOUT_S)
    try:
        yield index
    finally:
        await index.close()


async def test_a_lock_lost_under_rebuild_locks_refuses_writes_to_its_board(
    redis_ranking: RedisRanking,
) -> None:
    ranking = redis_ranking
    lost, kept = WEEK, ALL
    theirs = [VersionedStanding(Standing(uid(1), 100, T0), 1)]
    holding, done = asyncio.Event(), asyncio.Event()

    async def other_holder() -> None:
        async with ranking.rebuild_lock(lost):
            await ranking.drop(lost)
            await ranking.load(lost, theirs)
            holding.set()
            await done.wait()

    async def rebuild() -> None:
        async with ranking.rebuild_locks([kept, lost]) as taken:
            assert taken == [kept, lost]
            # Expired (this holder out of reach past the timeout, say) and taken by another.
            await ranking._client.delete(_keys(lost).lock)
            other = asyncio.create_task(other_holder())
            try:
                await holding.wait()
                with pytest.raises(RankingUnavailable, match="load refused"):
                    await ranking.load_many(
                        [(kept, standings(1, 2)), (lost, standings(2, 3, version=9))]
                    )
                with pytest.raises(RankingUnavailable, match="drop refused"):
                    await ranking.drop_many([kept, lost])
                assert await ranking.scores(lost) == scores_of(theirs)
                assert await ranking.is_loaded(lost)
            finally:
                done.set()
                await other
            # Long enough for a renewal to find the lock gone: leaving the block fails.
            await asyncio.sleep(LOCK_TIMEOUT_S)

    with pytest.raises(RankingBusy, match="lost while rebuilding"):
        await rebuild()
    # The other holder's board as it left it.
    assert await ranking.scores(lost) == scores_of(theirs)
    assert await ranking.is_loaded(lost)
