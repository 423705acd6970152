"""Operating the boards: rebuild them from the record, and check that they agree with it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from fitboard.application.boards.ports import BoardsUnit, RankingIndex
from fitboard.application.boards.reading import Boards
from fitboard.application.ports import Clock, Store
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


class BoardMaintenance:
    """Operating the boards: rebuild them from the record, and check that they agree."""

    def __init__(
        self,
        boards: Boards,
        store: Store[BoardsUnit],
        ranking: RankingIndex,
        clock: Clock,
        zone: ZoneInfo,
    ) -> None:
        self._boards = boards
        self._store = store
        self._ranking = ranking
        self._clock = clock
        self._zone = zone

    async def boards_to_rebuild(self) -> list[BoardKey]:
        """Every board the index holds, plus the current period of every global and
        activity board, so the boards people look at first are warm."""
        keys = set(await self._ranking.loaded_keys())
        keys |= set(current_boards(self._clock.now(), self._zone))
        return sorted(keys, key=str)

    async def rebuild_boards(self, keys: list[BoardKey], progress: Progress | None = None) -> int:
        """Drop and reload each board from the record; returns how many entries were loaded."""
        loaded = 0
        for key in keys:
            async with self._ranking.rebuild_lock(key):
                await self._ranking.drop(key)
                loaded += await self._boards.rebuild_board(key)
            if progress:
                progress(key)
        return loaded

    async def reconcile(self, *, repair: bool, progress: Progress | None = None) -> ReconcileReport:
        """Compare every board the index holds with the totals derived from the record.

        Run it when the queues are drained: a workout being processed right now shows up
        as a passing difference. With `repair`, each board that differs is reloaded from
        the record."""
        report = ReconcileReport()
        for key in sorted(await self._ranking.loaded_keys(), key=str):
            rng = period_range(key.board.period, key.period_key)
            async with self._store.unit_of_work(read_only=True) as uow:
                expected = {
                    s.standing.user_id: s.standing.score
                    for s in await uow.rollups.standings(key.board, rng.first, rng.last)
                }
            actual = await self._ranking.scores(key)
            report.boards_checked += 1
            found = [
                Difference(key, user, actual.get(user), expected.get(user))
                for user in sorted(set(actual) | set(expected), key=str)
                if actual.get(user) != expected.get(user)
            ]
            report.differences += found
            if found and repair:
                await self.rebuild_boards([key])
                report.repaired.append(key)
            if progress:
                progress(key)
        return report
