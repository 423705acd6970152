"""Operating the boards: rebuild them from the record, and check that they agree with it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from fitboard.application.boards.ports import BoardsUnit, RankingIndex
from fitboard.application.boards.reading import rebuild_board
from fitboard.application.ports import Store
from fitboard.domain.activities import Activity
from fitboard.domain.boards import BoardId, BoardKey, Metric, Period, Scope
from fitboard.domain.periods import current_key, period_range

Progress = Callable[[BoardKey], None]


def current_boards(now: datetime, zone: ZoneInfo) -> list[BoardKey]:
    """The current period of every global and activity board."""
    scopes = [Scope.global_(), *map(Scope.for_activity, Activity)]
    return [
        BoardKey(BoardId(metric, period, scope), current_key(period, now, zone))
        for period in Period
        for scope in scopes
        for metric in Metric
    ]


async def boards_to_rebuild(ranking: RankingIndex, now: datetime, zone: ZoneInfo) -> list[BoardKey]:
    """Every board the index holds, plus the current period of every global and activity
    board, so the boards people look at first are warm."""
    keys = set(await ranking.loaded_keys()) | set(current_boards(now, zone))
    return sorted(keys, key=str)


async def rebuild_boards(
    keys: list[BoardKey],
    *,
    store: Store[BoardsUnit],
    ranking: RankingIndex,
    progress: Progress | None = None,
) -> int:
    """Drop and reload each board from the record; returns how many entries were loaded."""
    loaded = 0
    for key in keys:
        async with ranking.rebuild_lock(key):
            await ranking.drop(key)
            loaded += await rebuild_board(key, store=store, ranking=ranking)
        if progress:
            progress(key)
    return loaded


@dataclass(frozen=True)
class Difference:
    key: BoardKey
    user_id: UUID
    in_index: int | None
    in_record: int | None


@dataclass
class ReconcileReport:
    boards_checked: int = 0
    differences: list[Difference] = field(default_factory=list)
    repaired: list[BoardKey] = field(default_factory=list)


async def reconcile(
    *,
    store: Store[BoardsUnit],
    ranking: RankingIndex,
    repair: bool,
    progress: Progress | None = None,
) -> ReconcileReport:
    """Compare every board the index holds with the totals derived from the record.

    Run it when the queues are drained: a workout being processed right now shows up as a
    passing difference. With `repair`, each board that differs is reloaded from the record."""
    report = ReconcileReport()
    for key in sorted(await ranking.loaded_keys(), key=str):
        rng = period_range(key.board.period, key.period_key)
        async with store.unit_of_work(read_only=True) as uow:
            expected = {
                s.standing.user_id: s.standing.score
                for s in await uow.rollups.standings(key.board, rng.first, rng.last)
            }
        actual = await ranking.scores(key)
        report.boards_checked += 1
        found = [
            Difference(key, user, actual.get(user), expected.get(user))
            for user in sorted(set(actual) | set(expected), key=str)
            if actual.get(user) != expected.get(user)
        ]
        report.differences += found
        if found and repair:
            await rebuild_boards([key], store=store, ranking=ranking)
            report.repaired.append(key)
        if progress:
            progress(key)
    return report
