"""`RankingIndex.load` of a board bigger than one call, and `load_many`: every board of
the call loaded as `load` under its rebuild lock would load it (versions compared, the
board marked loaded), a bad standing failing the call before anything is written, and a
board whose lock is held loaded only once it is released. On memory, Redis and a Redis
Cluster (the parametrised `ranking` fixture)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

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
from tests.services.running import eventually

# Imported for pytest, which finds the parametrised `ranking` fixture by its name.
from .ranking_adapters import ranking_fixture  # noqa: F401

T0 = datetime(2026, 11, 16, 7, 30, tzinfo=UTC)
WEEK = BoardKey(BoardId(Metric.CALORIES, Period.WEEK, Scope.global_()), "2026-W47")
RUN_DAY = BoardKey(
    BoardId(Metric.DISTANCE, Period.DAY, Scope.for_activity(Activity.RUN)), "2026-11-16"
)
MONTH = BoardKey(BoardId(Metric.POINTS, Period.MONTH, Scope.global_()), "2026-11")
ALL = BoardKey(BoardId(Metric.WORKOUTS, Period.ALL, Scope.global_()), "all")
# More members than the Redis adapter writes in one script call (1,000), so its load of
# this board takes several calls, and its `load_many` loads it under the lock.
BIG = 2500


def uid(n: int) -> UUID:
    return UUID(int=n)


def versioned(n: int, score: int, version: int = 1) -> VersionedStanding:
    return VersionedStanding(Standing(uid(n), score, T0 + timedelta(seconds=n)), version)


def many(count: int, version: int = 1) -> list[VersionedStanding]:
    return [versioned(n, 10 * n + 3, version) for n in range(1, count + 1)]


async def test_load_many_loads_every_board_version_checked(ranking: RankingIndex) -> None:
    # Projected before the load: uid(1) at a newer version than the record's standing
    # (kept), uid(2) at an older one (overwritten), uid(3) removed at a newer version (not
    # brought back).
    await ranking.project(uid(1), 5, [ScoreUpdate(WEEK, 130, T0)])
    await ranking.project(uid(2), 1, [ScoreUpdate(WEEK, 20, T0)])
    await ranking.project(uid(3), 4, [ScoreUpdate(WEEK, None, None)])
    assert not await ranking.is_loaded(WEEK)

    await ranking.load_many(
        [
            (WEEK, [versioned(1, 100, 4), versioned(2, 50, 2), versioned(3, 70, 3)]),
            (RUN_DAY, [versioned(7, 9)]),
            (MONTH, []),
        ]
    )

    for key in (WEEK, RUN_DAY, MONTH):
        assert await ranking.is_loaded(key), key
    assert not await ranking.is_loaded(ALL)
    assert await ranking.scores(WEEK) == {uid(1): 130, uid(2): 50}
    assert await ranking.scores(RUN_DAY) == {uid(7): 9}
    assert await ranking.scores(MONTH) == {}
    page = await ranking.read_page(WEEK, 0, 10)
    assert page is not None
    assert [(e.rank, e.user_id, e.score) for e in page.entries] == [
        (1, uid(1), 130),
        (2, uid(2), 50),
    ]
    await ranking.load_many([])


async def test_a_board_bigger_than_one_call_loads_whole(ranking: RankingIndex) -> None:
    # A newer projected total in the last part of the board and one in the first.
    await ranking.project(uid(BIG), 9, [ScoreUpdate(WEEK, 1, T0), ScoreUpdate(ALL, 2, T0)])
    await ranking.project(uid(1), 9, [ScoreUpdate(ALL, 5, T0)])
    expected = {uid(n): 10 * n + 3 for n in range(1, BIG + 1)}

    await ranking.load(WEEK, many(BIG))
    await ranking.load_many([(ALL, many(BIG)), (RUN_DAY, many(3))])

    assert await ranking.is_loaded(WEEK)
    assert await ranking.is_loaded(ALL)
    assert await ranking.scores(WEEK) == expected | {uid(BIG): 1}
    assert await ranking.scores(ALL) == expected | {uid(BIG): 2, uid(1): 5}
    assert await ranking.scores(RUN_DAY) == {uid(n): 10 * n + 3 for n in (1, 2, 3)}
    page = await ranking.read_page(ALL, 0, 2)
    assert page is not None
    assert page.total == BIG
    assert [(e.rank, e.user_id) for e in page.entries] == [(1, uid(BIG - 1)), (2, uid(BIG - 2))]


async def test_a_bad_standing_fails_load_many_before_anything_is_written(
    ranking: RankingIndex,
) -> None:
    naive = VersionedStanding(Standing(uid(2), 5, datetime(2026, 11, 16)), 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        await ranking.load_many([(WEEK, [versioned(1, 5)]), (MONTH, [naive])])
    assert await ranking.held_keys() == []


async def test_load_many_loads_a_board_only_once_its_rebuild_lock_is_free(
    ranking: RankingIndex,
) -> None:
    async with ranking.rebuild_lock(WEEK):
        loading = asyncio.create_task(
            ranking.load_many(
                [(RUN_DAY, [versioned(7, 9)]), (WEEK, [versioned(1, 10), versioned(2, 20)])]
            )
        )
        # The other board is loaded meanwhile; this one waits for the lock's holder.
        await eventually(lambda: ranking.is_loaded(RUN_DAY), within_s=10)
        assert not loading.done()
        assert WEEK not in await ranking.held_keys()
        # The holder rebuilds the board from a newer record, which the waiting load, read
        # from an older one, must leave as it is: it writes nothing into a board loaded
        # meanwhile.
        await ranking.load(WEEK, [versioned(1, 15, version=2)])
    async with asyncio.timeout(20):
        await loading
    assert await ranking.scores(WEEK) == {uid(1): 15}
    # The lock is free again.
    async with asyncio.timeout(5), ranking.rebuild_lock(WEEK):
        pass
