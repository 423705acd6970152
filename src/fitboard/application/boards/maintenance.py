"""Operating the boards: rebuild them from the record, and check that they agree with it.

Reconciling checks every board instance the record implies (each metric, period instance
and scope in which an athlete shown on boards has a daily rollup) and every instance the
ranking index holds. The record's side is read in bulk, every metric's instances of one
period and scope in one streamed statement; the index's side is read for the instances it
holds, many in one call (`RankingIndex.scores_many`). What an instance of the index must
hold follows from cache-aside reads (docs/deploy.md, "Reconcile"):

- loaded: exactly the record's standings, every member and score;
- not loaded ("cold"): nothing to compare. It serves no reader and takes no projection
  write (only a board being loaded does); what it holds, if anything, is a load under way,
  what an interrupted one left, or an earlier release's writes (which went into boards no
  one loaded), which the next load drops first, and `repair` drops under the board's
  lock. It is loaded from the record on its first read.

Warming (`--warm`) loads each cold instance the record implies once the check is done,
as a rebuild does (under its rebuild lock, dropped, then read from the record), but many
at a time (`BoardMaintenance.warm`): not from the standings the check read, which are
older than the lock, and a write committed in between would be missing.

Challenges are not boards of the index: they are ranked from the record at each read, so
there is nothing of theirs to reconcile.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, aclosing
from dataclasses import dataclass, field
from datetime import date, datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from fitboard.application.boards.ports import OldLayoutRemoved, RankingIndex
from fitboard.application.boards.record_instances import RecordedBoards, StandingsChunk
from fitboard.application.ports import Clock
from fitboard.domain.activities import Activity
from fitboard.domain.boards import (
    BoardId,
    BoardKey,
    Metric,
    Period,
    Scope,
    ScopeKind,
    VersionedStanding,
)
from fitboard.domain.periods import current_key, period_range

Progress = Callable[[BoardKey], None]
# Reconcile's and a whole rebuild's progress: board instances checked, or boards rebuilt,
# so far, of how many.
Checked = Callable[[int, int], None]

# Differences listed in a report (all are counted).
MAX_LISTED = 1000
# The index is read for this many held instances at once (one round trip on Redis), or
# fewer when they hold this many of the record's entries between them.
_BATCH_BOARDS = 1000
_BATCH_ENTRIES = 50_000
# Instances rebuilt at once: each is a query of the record and writes to the index, which
# overlap; few enough to stay within the database's connection pool.
_REBUILDS_AT_ONCE = 4
# Boards reconcile's warming loads at once (`BoardMaintenance.warm`), or a little more (a
# batch ends where a period instance's days do): each batch's locks are taken together,
# and held until the whole batch is loaded, so a reader of one of its boards waits for
# the batch; and entries of the record held before they are loaded.
_WARM_BOARDS = 1000
_WARM_ENTRIES = 50_000
# Chunks of the record's standings read ahead of each board's load while it writes the
# ones before: the read overlaps the writes, and a rebuild's memory stays a few chunks
# per board of the instance, however many athletes it ranks.
_CHUNKS_AHEAD = 2


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


@dataclass(frozen=True)
class Rebuilt:
    """What a whole rebuild (`BoardMaintenance.rebuild`) did."""

    boards: int
    entries: int
    # What the index's earlier key layout left, deleted first (the boards it held loaded
    # are among those rebuilt); None for an index that has no earlier layout.
    old_layout: OldLayoutRemoved | None


@dataclass
class ReconcileReport:
    # Instances compared: those the record implies and those the index holds besides.
    boards_checked: int = 0
    # Instances the record implies (each metric's board in each scope and period instance
    # with a rollup of an athlete shown on boards).
    implied: int = 0
    # Implied instances not loaded in the index: rebuilt from the record on first read.
    cold: int = 0
    # Of the cold ones, those holding something all the same: a load under way, what an
    # interrupted one left, or an earlier release's writes (not compared: the next load
    # drops it).
    partly_held: int = 0
    # Instances the index holds that the record does not imply.
    not_implied: int = 0
    # Entries compared: each member of a loaded instance, on either side.
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
    # Instances held but not loaded (a load interrupted, or an earlier release's writes
    # into boards no one loaded) that `repair` dropped.
    dropped: int = 0


# The scopes reconcile reads the record's boards by: the global one, every activity's
# boards together, every group's boards together.
BOARD_SCOPES = (Scope.global_(), Scope(ScopeKind.ACTIVITY), Scope(ScopeKind.GROUP))


class BoardMaintenance:
    """Operating the boards: rebuild them from the record, and check that they agree."""

    def __init__(
        self,
        ranking: RankingIndex,
        clock: Clock,
        zone: ZoneInfo,
        record: RecordedBoards,
    ) -> None:
        self._record = record
        self._ranking = ranking
        self._clock = clock
        self._zone = zone

    async def rebuild(
        self, *, removing: Callable[[int], None] | None = None, progress: Checked | None = None
    ) -> Rebuilt:
        """Rebuild the boards from the record, as `fitboard rebuild` and the admin API do.

        First delete what an earlier key layout of the index left (an upgrade's leftovers,
        `RankingIndex.remove_old_layout`; `removing` is told the keys deleted so far): here,
        so that no way of rebuilding leaves them in place. Then drop and reload every board
        the index holds, the current period of every global and activity board (so the
        boards people look at first are warm), and every board the earlier layout held
        loaded; `progress` is told the boards rebuilt so far, of how many, from 0."""
        old = await self._ranking.remove_old_layout(removing)
        wanted = set(await self._ranking.loaded_keys())
        wanted |= set(current_boards(self._clock.now(), self._zone))
        if old is not None:
            wanted |= set(old.loaded)
        keys = sorted(wanted, key=str)
        rebuilt = 0

        def advance(_key: BoardKey) -> None:
            nonlocal rebuilt
            rebuilt += 1
            if progress is not None:
                progress(rebuilt, len(keys))

        if progress is not None:
            progress(0, len(keys))
        entries = await self.rebuild_boards(keys, advance)
        return Rebuilt(len(keys), entries, old)

    async def rebuild_boards(self, keys: list[BoardKey], progress: Progress | None = None) -> int:
        """Drop and reload each board from the record, several instances at a time;
        returns how many entries were loaded. The boards of one instance (period key and
        scope: every metric's, for a whole rebuild) are rebuilt together, from one read of
        the record, which sums each athlete's rollups of the instance once for all of
        them instead of once per board, and is streamed into their loads."""
        instances: dict[_Instance, list[BoardKey]] = {}
        for key in sorted(set(keys), key=str):
            instances.setdefault(_instance(key), []).append(key)
        waiting = iter(instances.values())

        async def rebuild() -> int:
            entries = 0
            for boards in waiting:  # each instance is taken by one of the rebuilders
                entries += await self._rebuild_instance(boards)
                if progress:
                    for key in boards:
                        progress(key)
            return entries

        rebuilders = [asyncio.create_task(rebuild()) for _ in range(_REBUILDS_AT_ONCE)]
        try:
            return sum(await asyncio.gather(*rebuilders))
        finally:
            # On the first failure (or a cancellation), the other rebuilds are stopped and
            # waited for: none goes on after the caller has the error (gather alone leaves
            # them running). Their own errors are read by gather. The instances not begun
            # are taken away too: a rebuilder whose cancellation was lost (see `_Stopped`)
            # then ends with its instance.
            for _ in waiting:
                pass
            for rebuilder in rebuilders:
                rebuilder.cancel()
            await asyncio.wait(rebuilders)

    async def _rebuild_instance(self, keys: list[BoardKey]) -> int:
        """Rebuild `keys`, boards of one instance, under each one's rebuild lock (taken in
        the order of the keys, sorted, so two rebuilds of the same boards cannot each wait
        for the other; each released as soon as its board is loaded). Each board is
        dropped before the record is read: a projection committed after the read (its
        version newer than the read's) then reaches the board after the drop, and the
        load, version-checked, leaves it as it is; dropped after the read, the board would
        lose it and hold the older total.

        The record is streamed: each chunk of its athletes goes to every board's load,
        the loads running side by side, so memory holds a few chunks per board and never
        a whole board."""
        period, period_key, scope = _instance(keys[0])
        # The locks held, in the order they were taken; each removed once released.
        held: dict[BoardKey, AbstractAsyncContextManager[None]] = {}
        try:
            for key in keys:
                lock = self._ranking.rebuild_lock(key)
                await lock.__aenter__()
                held[key] = lock
            for key in keys:
                await self._ranking.drop(key)
            async with self._record.reading() as record:
                chunks = record.instance_chunks(
                    period, period_key, scope, [key.board.metric for key in keys]
                )
                return await _load_side_by_side(self._ranking, chunks, held)
        except BaseException as error:
            # The locks still held are released, in the order they were taken, each told of
            # the failure: so each is released, and none raises an error of its own in its
            # place (a lost lock's), which would leave the others held.
            for lock in held.values():
                await lock.__aexit__(type(error), error, error.__traceback__)
            raise

    async def reconcile(
        self, *, repair: bool, warm: bool = False, progress: Checked | None = None
    ) -> ReconcileReport:
        """Compare every board instance the record implies, and every one the index holds,
        with the totals derived from the record (see the module's docstring for what each
        kind of instance must hold).

        Run it when the queues are drained: a workout being processed right now shows up
        as a passing difference. With `repair`, each instance that differs is reloaded
        from the record, and each held but not loaded is dropped (what it holds would only
        be dropped by its next load); with `warm`, each cold one is loaded too."""
        report = ReconcileReport()
        async with self._record.reading() as record:
            # Before the record's first read, which is when its snapshot is taken: a board
            # loaded after this counts as cold, instead of being compared with a snapshot
            # older than its load's own read.
            loaded = set(await self._ranking.loaded_keys())
            held = set(await self._ranking.held_keys()) | loaded
            # Instances as (period, period key, scope): each is one of every metric's boards.
            implied: set[_Instance] = set()
            for period in Period:
                implied.update((period, key, scope) for key, scope in await record.implied(period))
            report.implied = len(implied) * len(Metric)
            unimplied = sorted(key for key in held if _instance(key) not in implied)
            check = _Check(
                self._ranking, report, loaded, held, report.implied + len(unimplied), progress
            )
            read: set[_Instance] = set()
            for period in Period:
                for scope in BOARD_SCOPES:
                    async for instance in record.instances(period, scope):
                        triple = (period, instance.period_key, instance.scope)
                        read.add(triple)
                        for metric in Metric:
                            await check.add(
                                instance.key(metric), instance.scores[metric], triple in implied
                            )
        for period, period_key, scope in sorted(implied - read):  # no one scores on it
            for metric in Metric:
                await check.add(BoardKey(BoardId(metric, period, scope), period_key), {}, True)
        for key in unimplied:
            if _instance(key) not in read:
                await check.add(key, {}, False)
        await check.flush()
        if repair and report.differing:
            await self.rebuild_boards(report.differing)
            report.repaired = list(report.differing)
        if repair:
            # Under their rebuild locks: a board whose lock another holds is being loaded,
            # and its load drops it first; one loaded since the check is kept.
            unloaded = sorted(held - loaded, key=str)
            for start in range(0, len(unloaded), _WARM_BOARDS):
                async with self._ranking.rebuild_locks(
                    unloaded[start : start + _WARM_BOARDS]
                ) as free:
                    report.dropped += await self._ranking.drop_many(free, keep_loaded=True)
        if warm:
            # After the check's read, each under its lock and from a read of its own (see
            # the module's docstring).
            report.warmed = await self.warm(check.cold)
        return report

    async def warm(self, keys: list[BoardKey]) -> int:
        """Drop and load each board of `keys` from the record, as `rebuild_boards` does,
        but many at a time: for the many small boards reconcile finds cold. Taken in
        batches of instances of one period and kind of scope, close in time: each batch's
        rebuild locks all at once (`RankingIndex.rebuild_locks`; a board whose lock
        another holds is being loaded by them, and left out), its boards dropped (but
        those loaded since, which their loads leave as they are), then read from one
        statement over the days of the batch's instances, in a read begun after the
        locks, and loaded many to a round trip. Returns how many boards it took (each
        loaded now)."""
        groups: dict[tuple[Period, ScopeKind], dict[_Instance, list[BoardKey]]] = {}
        for key in sorted(set(keys), key=str):
            group = groups.setdefault((key.board.period, key.board.scope.kind), {})
            group.setdefault(_instance(key), []).append(key)
        warmed = 0
        for (period, kind), instances in groups.items():
            # In the order of their first day, so a batch spans few days; and a batch
            # ends only where a day does, since its read takes every instance of its days.
            first_days = {instance: _first_day(instance) for instance in instances}
            ordered = sorted(instances.items(), key=lambda item: first_days[item[0]])
            batch: list[tuple[_Instance, list[BoardKey]]] = []
            boards = 0
            for instance, instance_keys in ordered:
                if boards >= _WARM_BOARDS and first_days[instance] != first_days[batch[-1][0]]:
                    warmed += await self._warm_batch(period, kind, batch)
                    batch, boards = [], 0
                batch.append((instance, instance_keys))
                boards += len(instance_keys)
            if batch:
                warmed += await self._warm_batch(period, kind, batch)
        return warmed

    async def _warm_batch(
        self, period: Period, kind: ScopeKind, batch: list[tuple[_Instance, list[BoardKey]]]
    ) -> int:
        """Load the boards of `batch`, instances of `period` in scopes of `kind`, under
        their rebuild locks (see `warm`); how many were loaded."""
        keys = [key for _, instance_keys in batch for key in instance_keys]
        spans = [_days(instance) for instance, _ in batch]
        days = (
            min((first for first, _ in spans if first is not None), default=None),
            max((last for _, last in spans if last is not None), default=None),
        )
        async with self._ranking.rebuild_locks(keys) as held:
            if not held:
                return 0
            # Dropped before the record is read, as `_rebuild_instance` does (and why); but
            # not a board someone loaded since the check (it is not cold any more, and its
            # load leaves it as it is).
            await self._ranking.drop_many(held, keep_loaded=True)
            waiting = set(held)
            loads: list[tuple[BoardKey, Sequence[VersionedStanding]]] = []
            entries = 0
            async with self._record.reading() as record:
                scope = Scope.global_() if kind is ScopeKind.GLOBAL else Scope(kind)
                async for instance in record.instance_standings(period, scope, days):
                    for metric in Metric:
                        key = instance.key(metric)
                        if key in waiting:
                            waiting.discard(key)
                            loads.append((key, instance.standings[metric]))
                            entries += len(instance.standings[metric])
                    if entries >= _WARM_ENTRIES:
                        await self._ranking.load_many(loads)
                        loads, entries = [], 0
            # No one ranked on these (any more): loaded empty, as a rebuild would.
            loads += [(key, []) for key in held if key in waiting]
            await self._ranking.load_many(loads)
        return len(held)


class _Stopped:
    """The end of a board's stream when its rebuild stops before the record's end: the
    load reading it is cancelled. Cancelling its task is not always enough: a client
    library may lose the cancellation (redis-py writes through `asyncio.wait_for`, which
    on Python 3.11 returns the write's result instead of raising when cancelled just after
    the write; see `RedisRanking._keep`), and the load then reads on, waiting for a chunk
    that never comes."""


_STOPPED = _Stopped()
# What a board's stream carries: chunks, then None at the record's end or `_STOPPED`.
_Streamed = Sequence[VersionedStanding] | None | _Stopped


async def _load_side_by_side(
    ranking: RankingIndex,
    chunks: AsyncGenerator[StandingsChunk, None],
    held: dict[BoardKey, AbstractAsyncContextManager[None]],
) -> int:
    """Load each board of `held` (boards of one instance, each under its lock) from
    `chunks`, one `RankingIndex.load` of a stream per board, all at once: each chunk is
    handed to every board's stream, and the next read only once every stream has room
    for it (`_CHUNKS_AHEAD`), so the slowest load paces the read. Each board's lock is
    released (and taken out of `held`) as soon as its load is done; the first failure,
    of the read or of a load, stops the others and is raised, the locks left in `held`.
    Returns the entries loaded."""
    queues = {key: asyncio.Queue[_Streamed](_CHUNKS_AHEAD) for key in held}
    entries = 0

    async def read() -> None:
        nonlocal entries
        async with aclosing(chunks):
            async for chunk in chunks:
                for key, queue in queues.items():
                    standings = chunk[key.board.metric]
                    entries += len(standings)
                    await queue.put(standings)
        for queue in queues.values():
            await queue.put(None)  # the end of the board's stream

    async def stream(queue: asyncio.Queue[_Streamed]) -> AsyncIterator[Sequence[VersionedStanding]]:
        while (standings := await queue.get()) is not None:
            if isinstance(standings, _Stopped):
                raise asyncio.CancelledError
            yield standings

    loads = {asyncio.create_task(ranking.load(key, stream(queues[key]))): key for key in held}
    tasks = [asyncio.create_task(read()), *loads]
    try:
        pending = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in (task for task in tasks if task in done):
                task.result()  # raises the task's failure
                if task in loads:
                    # Released here, not by the load's task: a failure elsewhere cancels
                    # those, and a release cut short would leave the lock to its timeout.
                    await held.pop(loads[task]).__aexit__(None, None, None)
    finally:
        # On a failure (or a cancellation), the others are stopped and waited for, and
        # their outcomes read so that asyncio reports none as never retrieved: the error
        # raised is the first one. Each stream is ended too (what it still held would be
        # dropped anyway): a load whose cancellation was lost (see `_Stopped`) then ends
        # instead of waiting for chunks that will never come.
        for task in tasks:
            task.cancel()
        for queue in queues.values():
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(_STOPPED)
        await asyncio.wait(tasks)
        for task in tasks:
            if not task.cancelled():
                task.exception()
    return entries


# A board instance of every metric: (period, period key, scope).
_Instance = tuple[Period, str, Scope]


def _instance(key: BoardKey) -> _Instance:
    return (key.board.period, key.period_key, key.board.scope)


def _days(instance: _Instance) -> tuple[date | None, date | None]:
    """The first and last day of an instance (None, None for all-time's)."""
    period, period_key, _ = instance
    days = period_range(period, period_key)
    return days.first, days.last


def _first_day(instance: _Instance) -> date:
    return _days(instance)[0] or date.min


class _Check:
    """Compares loaded instances with the index, reading the index for many at a time,
    and adds what it finds to the report; lists the cold instances the record implies
    (`cold`), for warming."""

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
        # Loaded instances waiting to be read: key, and the record's scores.
        self._waiting: list[tuple[BoardKey, dict[UUID, int]]] = []
        self._waiting_entries = 0
        # The instances the record implies that are not loaded.
        self.cold: list[BoardKey] = []

    async def add(self, key: BoardKey, expected: dict[UUID, int], implied: bool) -> None:
        report = self._report
        report.record_entries += len(expected)
        loaded = key in self._loaded
        if implied and not loaded:
            report.cold += 1
            self.cold.append(key)
            if key in self._held:
                report.partly_held += 1
        if not implied:
            report.not_implied += 1
        if not loaded:
            # Nothing to compare until a read loads it from the record.
            self._checked()
            return
        self._waiting.append((key, expected))
        self._waiting_entries += len(expected)
        if len(self._waiting) >= _BATCH_BOARDS or self._waiting_entries >= _BATCH_ENTRIES:
            await self._read_index()

    async def flush(self) -> None:
        """Compare whatever waits."""
        await self._read_index()

    async def _read_index(self) -> None:
        waiting, self._waiting, self._waiting_entries = self._waiting, [], 0
        if not waiting:
            return
        held = await self._ranking.scores_many([key for key, _ in waiting])
        for (key, expected), actual in zip(waiting, held, strict=True):
            self._compare(key, expected, actual)
            self._checked()

    def _compare(self, key: BoardKey, expected: dict[UUID, int], actual: dict[UUID, int]) -> None:
        """Adds the loaded instance's differences to the report."""
        report = self._report
        if actual == expected:
            report.entries_compared += len(actual)
            return
        members = actual.keys() | expected.keys()
        report.entries_compared += len(members)
        differing = [user for user in members if actual.get(user) != expected.get(user)]
        if not differing:
            return
        report.differing.append(key)
        report.difference_count += len(differing)
        for user in sorted(differing, key=str)[: max(0, MAX_LISTED - len(report.differences))]:
            report.differences.append(Difference(key, user, actual.get(user), expected.get(user)))

    def _checked(self) -> None:
        self._report.boards_checked += 1
        if self._progress is not None:
            self._progress(self._report.boards_checked, self._total)
