"""`RankingIndex.held_keys`: every board instance held, loaded or projected into while
being loaded, against the memory and Redis adapters."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

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


def key(metric: Metric, period: Period, scope: Scope, period_key: str) -> BoardKey:
    return BoardKey(BoardId(metric, period, scope), period_key)


async def test_held_keys_are_the_loaded_and_the_projected_into(ranking: RankingIndex) -> None:
    group = uuid4()
    loaded = key(Metric.DURATION, Period.YEAR, Scope.for_group(group), "2026")
    loaded_empty = key(Metric.CALORIES, Period.WEEK, Scope.global_(), "2026-W47")
    projected = key(Metric.DISTANCE, Period.DAY, Scope.for_activity(Activity.RUN), "2026-11-16")
    emptied = key(Metric.ACTIVE_DAYS, Period.ALL, Scope.global_(), "all")
    dropped = key(Metric.POINTS, Period.MONTH, Scope.global_(), "2026-11")
    # Neither loaded nor being loaded when projected into: takes no write, so is not held.
    untouched = key(Metric.WORKOUTS, Period.DAY, Scope.global_(), "2026-11-16")
    user = UUID(int=1)
    await ranking.load(loaded, [VersionedStanding(Standing(user, 10, T0), 1)])
    await ranking.load(loaded_empty, [])
    await ranking.load(dropped, [VersionedStanding(Standing(user, 10, T0), 1)])
    await ranking.drop(dropped)
    await ranking.project(user, 1, [ScoreUpdate(untouched, 4, T0)])
    # Written while being loaded, and the load never finished (interrupted).
    async with ranking.rebuild_lock(emptied), ranking.rebuild_lock(projected):
        await ranking.project(user, 1, [ScoreUpdate(projected, 4, T0), ScoreUpdate(emptied, 3, T0)])
        # Removed again: the board still holds the member's version, so it is held.
        await ranking.project(user, 2, [ScoreUpdate(emptied, None, None)])

    assert await ranking.held_keys() == sorted([loaded, loaded_empty, projected, emptied])
    assert await ranking.loaded_keys() == sorted([loaded, loaded_empty])
