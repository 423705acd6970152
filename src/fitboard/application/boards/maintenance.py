"""Operating the boards: rebuild them from the record, and check that they agree with it.

Reconciling checks every board instance the record implies (each metric, period instance
and scope in which an athlete shown on boards has a daily rollup) and every instance the
ranking index holds. The record's side is read in bulk, all the instances of one board in
one streamed statement; the index's side is read for the instances it holds, several at
a time. What an instance of the index must hold follows from cache-aside reads
(docs/deploy.md, "Reconcile"):

- loaded: exactly the record's standings, every member and score;
- not loaded ("cold"): it is rebuilt from the record on its first read, so it may miss
  members, but any member it holds (projection writes into boards before anyone loads
  them) must have the record's score, and it may hold no one the record does not rank;
- held but not implied by the record: it may hold no one (a board read for a period
  without workouts is loaded, and empty).

Challenges are not boards of the index: they are ranked from the record at each read, so
there is nothing of theirs to reconcile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from fitboard.application.boards.ports import RankingIndex
from fitboard.application.boards.reading import Boards
from fitboard.application.boards.record_instances import RecordedBoards
from fitboard.application.ports import Clock
from fitboard.domain.activities import Activity
from fitboard.domain.boards import BoardId, BoardKey, Metric, Period, Scope, ScopeKind
from fitboard.domain.periods import current_key

Progress = Callable[[BoardKey], None]
# Reconcile's progress: board instances checked so far, of how many.
Checked = Callable[[int, int], None]

# Differences listed in a report (all are counted).
MAX_LISTED = 1000
# The index is read for this many held instances at once, or fewer when they hold this
# many of the record's entries between them.
_BATCH_BOARDS = 64
_BATCH_ENTRIES = 50_000
# Boards rebuilt at once: each is a query of the record and writes to the index, which
# overlap; few enough to stay within the database's connection pool.
_REBUILDS_AT_ONCE = 4


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
    # Instances compared: those the record implies and those the index holds besides.
    boards_checked: int = 0
    # Instances the record implies (each metric's board in each scope and period instance
    # with a rollup of an athlete shown on boards).
    implied: int = 0
    # Implied instances not loaded in the index: rebuilt from the record on first read.
    cold: int = 0
    # Of the cold ones, those holding members already (projected into): checked for those.
    partly_held: int = 0
    # Instances the index holds that the record does not imply.
    not_implied: int = 0
    # Entries compared: each member of a loaded instance on either side, each member a
    # cold or unimplied instance holds.
    entries_compared: int = 0
    # The record's entries: athletes ranked, summed over the implied instances.
    record_entries: int = 0
    difference_count: int = 0
    # The first MAX_LISTED differences, by instance and athlete.
    differences: list[Difference] = field(default_factory=list)
    differing: list[BoardKey] = field(default_factory=list)
    repaired: list[BoardKey] = field(default_factory=list)
    # Cold instances loaded by `warm`.
    warmed: int = 0


# The scopes reconcile reads the record's boards by: the global one, every activity's
# boards together, every group's boards together.
BOARD_SCOPES = (Scope.global_(), Scope(ScopeKind.ACTIVITY), Scope(ScopeKind.GROUP))


class BoardMaintenance:
    """Operating the boards: rebuild them from the record, and check that they agree."""

    def __init__(
        self,
        boards: Boards,
        ranking: RankingIndex,
        clock: Clock,
        zone: ZoneInfo,
        record: RecordedBoards,
    ) -> None:
        self._boards = boards
        self._record = record
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
        """Drop and reload each board from the record, several at a time; returns how
        many entries were loaded."""
        waiting = iter(keys)

        async def rebuild() -> int:
            entries = 0
            for key in waiting:  # each board is taken by one of the rebuilders
                async with self._ranking.rebuild_lock(key):
                    await self._ranking.drop(key)
                    entries += await self._boards.rebuild_board(key)
                if progress:
                    progress(key)
            return entries

        return sum(await asyncio.gather(*(rebuild() for _ in range(_REBUILDS_AT_ONCE))))

    async def reconcile(
        self, *, repair: bool, warm: bool = False, progress: Checked | None = None
    ) -> ReconcileReport:
        """Compare every board instance the record implies, and every one the index holds,
        with the totals derived from the record (see the module's docstring for what each
        kind of instance must hold).

        Run it when the queues are drained: a workout being processed right now shows up
        as a passing difference. With `repair`, each instance that differs is reloaded
        from the record; with `warm`, each cold one is loaded too."""
        report = ReconcileReport()
        async with self._record.reading() as record:
            loaded = set(await self._ranking.loaded_keys())
            held = set(await self._ranking.held_keys()) | loaded
            implied: set[BoardKey] = set()
            for period in Period:
                for period_key, scope in await record.implied(period):
                    implied.update(
                        BoardKey(BoardId(metric, period, scope), period_key) for metric in Metric
                    )
            report.implied = len(implied)
            check = _Check(self._ranking, report, loaded, held, len(implied | held), progress)
            compared: set[BoardKey] = set()
            for period in Period:
                for metric in Metric:
                    for scope in BOARD_SCOPES:
                        async for key, expected in record.scores(metric, period, scope):
                            compared.add(key)
                            await check.add(key, expected, key in implied)
        for key in sorted(implied - compared):  # no one scores on it
            await check.add(key, {}, True)
        for key in sorted(held - implied - compared):
            await check.add(key, {}, False)
        await check.flush()
        if repair and report.differing:
            await self.rebuild_boards(report.differing)
            report.repaired = list(report.differing)
        if warm:
            cold = sorted(implied - loaded - set(report.repaired))
            await self.rebuild_boards(cold)
            report.warmed = len(cold)
        return report


class _Check:
    """Compares instances with the index, reading the index for several held ones at a
    time, and adds what it finds to the report."""

    def __init__(
        self,
        ranking: RankingIndex,
        report: ReconcileReport,
        loaded: set[BoardKey],
        held: set[BoardKey],
        total: int,
        progress: Checked | None,
    ) -> None:
        self._ranking = ranking
        self._report = report
        self._loaded = loaded
        self._held = held
        self._total = total
        self._progress = progress
        self._waiting: list[tuple[BoardKey, dict[UUID, int]]] = []
        self._waiting_entries = 0

    async def add(self, key: BoardKey, expected: dict[UUID, int], implied: bool) -> None:
        report = self._report
        report.record_entries += len(expected)
        if implied and key not in self._loaded:
            report.cold += 1
            if key in self._held:
                report.partly_held += 1
        if not implied:
            report.not_implied += 1
        if key not in self._held:
            # Cold and empty: nothing to compare until a read loads it from the record.
            self._checked()
            return
        self._waiting.append((key, expected))
        self._waiting_entries += len(expected)
        if len(self._waiting) >= _BATCH_BOARDS or self._waiting_entries >= _BATCH_ENTRIES:
            await self.flush()

    async def flush(self) -> None:
        waiting, self._waiting, self._waiting_entries = self._waiting, [], 0
        held = await asyncio.gather(*(self._ranking.scores(key) for key, _ in waiting))
        for (key, expected), actual in zip(waiting, held, strict=True):
            self._compare(key, expected, actual)
            self._checked()

    def _compare(self, key: BoardKey, expected: dict[UUID, int], actual: dict[UUID, int]) -> None:
        report = self._report
        # A loaded instance must hold everyone the record ranks; any other, whom it holds.
        members = set(actual) | set(expected) if key in self._loaded else set(actual)
        report.entries_compared += len(members)
        found = [
            Difference(key, user, actual.get(user), expected.get(user))
            for user in sorted(members, key=str)
            if actual.get(user) != expected.get(user)
        ]
        if found:
            report.differing.append(key)
            report.difference_count += len(found)
            report.differences += found[: max(0, MAX_LISTED - len(report.differences))]

    def _checked(self) -> None:
        self._report.boards_checked += 1
        if self._progress is not None:
            self._progress(self._report.boards_checked, self._total)
