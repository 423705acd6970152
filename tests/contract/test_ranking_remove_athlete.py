"""`RankingIndex.remove_athlete`, for a deleted account: the same assertions against the
memory and Redis adapters."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

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
WEEK = BoardKey(BoardId(Metric.CALORIES, Period.WEEK, Scope.global_()), "2026-W47")
RUNS = BoardKey(BoardId(Metric.DISTANCE, Period.ALL, Scope.for_activity(Activity.RUN)), "all")
GROUP = BoardKey(BoardId(Metric.POINTS, Period.MONTH, Scope.for_group(UUID(int=99))), "2026-11")
ADA, BOB = UUID(int=1), UUID(int=2)


async def members(ranking: RankingIndex, key: BoardKey) -> dict[int, int]:
    return {user.int: score for user, score in (await ranking.scores(key)).items()}


async def test_the_athlete_leaves_every_board_loaded_or_not_and_no_one_else_does(
    ranking: RankingIndex,
) -> None:
    await ranking.load(
        WEEK,
        [
            VersionedStanding(Standing(ADA, 500, T0), 3),
            VersionedStanding(Standing(BOB, 400, T0), 1),
        ],
    )
    await ranking.load(RUNS, [VersionedStanding(Standing(BOB, 9000, T0), 1)])
    # Projected into while being loaded, and the load never finished (its process died):
    # an interrupted load's leftovers.
    async with ranking.rebuild_lock(GROUP):
        await ranking.project(ADA, 3, [ScoreUpdate(GROUP, 70, T0)])
    assert await members(ranking, GROUP) == {1: 70}

    assert await ranking.remove_athlete(ADA, 4) == 2

    assert await members(ranking, WEEK) == {2: 400}
    assert await members(ranking, RUNS) == {2: 9000}
    assert await members(ranking, GROUP) == {}
    assert [e.rank for e in (await ranking.page(WEEK, 0, 10)).entries] == [1]
    assert await ranking.is_loaded(WEEK)


async def test_a_projection_older_than_the_removal_does_not_bring_the_athlete_back(
    ranking: RankingIndex,
) -> None:
    # While the board is being loaded, whose load may come from a read older than both.
    async with ranking.rebuild_lock(WEEK):
        await ranking.project(ADA, 3, [ScoreUpdate(WEEK, 500, T0)])
        assert await ranking.remove_athlete(ADA, 4) == 1
        # A worker that committed before the deletion, projecting late.
        await ranking.project(ADA, 3, [ScoreUpdate(WEEK, 650, T0)])
        await ranking.project(ADA, 4, [ScoreUpdate(WEEK, 650, T0)])
        assert await members(ranking, WEEK) == {}
        # Nor does the load, read before the deletion.
        await ranking.load(WEEK, [VersionedStanding(Standing(ADA, 500, T0), 3)])
    assert await members(ranking, WEEK) == {}
    assert await ranking.is_loaded(WEEK)


async def test_removing_an_athlete_who_is_on_no_board_writes_nothing(
    ranking: RankingIndex,
) -> None:
    await ranking.load(WEEK, [VersionedStanding(Standing(BOB, 400, T0), 1)])
    assert await ranking.remove_athlete(ADA, 1) == 0
    # Nothing of ADA was written: a later first projection of an athlete with that id counts.
    await ranking.project(ADA, 1, [ScoreUpdate(WEEK, 10, T0)])
    assert await members(ranking, WEEK) == {2: 400, 1: 10}


async def test_a_load_read_before_the_deletion_does_not_bring_the_athlete_back(
    ranking: RankingIndex,
) -> None:
    """The account is deleted while boards are being loaded from a read of the record that
    still ranks the athlete, whom the loads have not written yet: one board just dropped,
    holding nothing, the other holding someone else already. Neither load may put them
    back."""
    read = [
        VersionedStanding(Standing(ADA, 500, T0), 3),
        VersionedStanding(Standing(BOB, 400, T0), 1),
    ]
    async with ranking.rebuild_lock(WEEK), ranking.rebuild_lock(RUNS):
        await ranking.drop(WEEK)
        await ranking.drop(RUNS)
        # Committed after the loads' read: WEEK holds BOB, RUNS nothing.
        await ranking.project(BOB, 2, [ScoreUpdate(WEEK, 450, T0)])
        assert await ranking.remove_athlete(ADA, 4) == 0
        await ranking.load(WEEK, read)
        await ranking.load(RUNS, read)
    assert await members(ranking, WEEK) == {2: 450}
    assert await members(ranking, RUNS) == {2: 400}
    assert await ranking.is_loaded(WEEK)
    assert await ranking.is_loaded(RUNS)
