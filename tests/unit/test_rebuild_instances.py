"""`BoardMaintenance.rebuild_boards`: the boards of one instance rebuilt together from
one read of the record, streamed in chunks into every board's load at once; every board
dropped before that read, each board's lock released as soon as it is loaded, the read
never more than a few chunks ahead of the slowest load, and every lock released (and the
read closed) when the rebuild fails, the other instances' rebuilds stopped before the
failure is raised, loads and rebuilds that outlive their cancellation ended all the same.
`BoardMaintenance.rebuild` (the CLI's and the admin API's): what an earlier key layout of
the index left is removed first, and the boards it held loaded are rebuilt with the
others."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest

from fitboard.application.boards import maintenance as maintenance_module
from fitboard.application.boards.maintenance import BoardMaintenance, current_boards
from fitboard.application.boards.ports import OldLayoutRemoved
from fitboard.application.boards.record_instances import StandingsChunk
from fitboard.domain.boards import (
    BoardId,
    BoardKey,
    Metric,
    Period,
    Scope,
    Standing,
    VersionedStanding,
)

T = datetime(2026, 1, 1, tzinfo=UTC)
ATHLETES = [uuid4() for _ in range(10)]
# Athletes per chunk of the record: 10 athletes are 4 chunks, the last one short.
CHUNK = 3


def ranked(metric: Metric, athletes: Sequence[UUID]) -> list[VersionedStanding]:
    """The active-days board ranks every other athlete, the others everyone: a chunk's
    boards hold different athletes."""
    step = 2 if metric is Metric.ACTIVE_DAYS else 1
    return [VersionedStanding(Standing(a, n + 1, T), 1) for n, a in enumerate(athletes[::step])]


def expected_entries(metric: Metric) -> int:
    return sum(len(ranked(metric, ATHLETES[n : n + CHUNK])) for n in range(0, len(ATHLETES), CHUNK))


class Record:
    def __init__(
        self,
        log: list[str],
        *,
        athletes: Sequence[UUID] = ATHLETES,
        fail_after: int | None = None,
    ) -> None:
        self.log = log
        self.athletes = athletes
        # Chunks given before the read fails (None: it does not).
        self.fail_after = fail_after
        self.reads = 0
        self.yielded = 0
        self.closed = 0

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Record]:
        yield self

    async def instance_chunks(
        self, period: Period, key: str, scope: Scope, metrics: Sequence[Metric]
    ) -> AsyncGenerator[StandingsChunk, None]:
        self.reads += 1
        self.log.append(f"read {key}")
        try:
            for n in range(0, len(self.athletes), CHUNK):
                if self.fail_after is not None and self.yielded >= self.fail_after:
                    raise RuntimeError("the record is gone")
                self.yielded += 1
                yield {m: ranked(m, self.athletes[n : n + CHUNK]) for m in metrics}
        finally:
            self.closed += 1


class Ranking:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.locked: set[BoardKey] = set()
        self.loaded: dict[BoardKey, int] = {}
        # Chunks each board's load has taken from its stream.
        self.taken: dict[BoardKey, int] = {}
        # A board whose load fails after its first chunk, and one that takes its time.
        self.failing: BoardKey | None = None
        self.slow: BoardKey | None = None
        # A board whose load, and one whose drop, outlives its cancellation and goes on,
        # as one does whose cancellation a client library lost while it wrote (Python
        # 3.11's wait_for in redis-py, see RedisRanking._keep).
        self.deaf_load: BoardKey | None = None
        self.deaf_drop: BoardKey | None = None
        # The boards the index holds loaded, and what its earlier key layout left.
        self.held: list[BoardKey] = []
        self.old: OldLayoutRemoved | None = None

    async def remove_old_layout(
        self, progress: Callable[[int], None] | None = None
    ) -> OldLayoutRemoved | None:
        self.log.append("remove old layout")
        if self.old is not None and progress is not None:
            progress(self.old.keys)
        return self.old

    async def loaded_keys(self) -> list[BoardKey]:
        self.log.append("loaded keys")
        return list(self.held)

    @asynccontextmanager
    async def rebuild_lock(self, key: BoardKey) -> AsyncIterator[None]:
        assert key not in self.locked
        self.locked.add(key)
        self.log.append(f"lock {key}")
        try:
            yield
        finally:
            self.locked.discard(key)
            self.log.append(f"unlock {key}")

    async def drop(self, key: BoardKey) -> None:
        self.log.append(f"drop {key}")
        if key == self.deaf_drop:
            self.deaf_drop = None
            await self._write_deaf()

    async def load(
        self, key: BoardKey, standings: AsyncIterable[Sequence[VersionedStanding]]
    ) -> None:
        assert key in self.locked
        entries = 0
        async for chunk in standings:
            if key == self.deaf_load:
                self.deaf_load = None
                await self._write_deaf()
            self.taken[key] = self.taken.get(key, 0) + 1
            entries += len(chunk)
            if key == self.failing:
                raise RuntimeError(f"load of {key} refused")
            for _ in range(5 if key == self.slow else 0):
                await asyncio.sleep(0)
        self.loaded[key] = entries
        self.log.append(f"load {key}")

    async def _write_deaf(self) -> None:
        """A write of the deaf board, under way until it is cancelled, and whose
        cancellation is lost: the caller goes on."""
        with suppress(asyncio.CancelledError):
            await asyncio.get_running_loop().create_future()


class Clock:
    def now(self) -> datetime:
        return T


def maintenance(ranking: Ranking, record: Record) -> BoardMaintenance:
    return BoardMaintenance(cast(Any, ranking), Clock(), ZoneInfo("UTC"), cast(Any, record))


def keys(period_key: str, metrics: Sequence[Metric]) -> list[BoardKey]:
    return [BoardKey(BoardId(m, Period.DAY, Scope.global_()), period_key) for m in metrics]


async def test_one_read_per_instance_streamed_into_every_board() -> None:
    log: list[str] = []
    ranking, record = Ranking(log), Record(log)
    two = [Metric.ACTIVE_DAYS, Metric.POINTS]
    wanted = keys("2026-01-01", list(Metric)) + keys("2026-01-02", two)
    entries = await maintenance(ranking, record).rebuild_boards(wanted)
    assert record.reads == 2
    # Every board holds every chunk's standings of its metric.
    assert ranking.loaded == {key: expected_entries(key.board.metric) for key in wanted}
    assert entries == sum(ranking.loaded.values())
    assert ranking.loaded[wanted[-2]] < ranking.loaded[wanted[-1]] == len(ATHLETES)
    assert not ranking.locked
    assert record.closed == 2
    # One instance's steps (the rebuilders interleave instances, not their steps): every
    # lock taken and every board dropped before the read, each lock released once its
    # board is loaded.
    a, b = sorted(keys("2026-01-02", two), key=str)
    steps = [e for e in log if e.endswith((str(a), str(b), " 2026-01-02"))]
    assert steps[:5] == [f"lock {a}", f"lock {b}", f"drop {a}", f"drop {b}", "read 2026-01-02"]
    for key in (a, b):
        assert steps.index(f"load {key}") < steps.index(f"unlock {key}")


async def test_an_empty_instance_loads_its_boards_empty() -> None:
    log: list[str] = []
    ranking, record = Ranking(log), Record(log, athletes=[])
    wanted = keys("2026-01-01", list(Metric))
    assert await maintenance(ranking, record).rebuild_boards(wanted) == 0
    assert ranking.loaded == dict.fromkeys(wanted, 0)
    assert not ranking.locked


async def test_the_read_is_never_more_than_a_few_chunks_ahead_of_the_slowest_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Memory is bounded by chunks, not by the instance's athletes: the record's chunks
    wait for the slowest board's load to take them."""
    log: list[str] = []
    ranking = Ranking(log)
    record = Record(log, athletes=[uuid4() for _ in range(60 * CHUNK)])
    wanted = keys("2026-01-01", list(Metric))
    slow = ranking.slow = wanted[2]
    ahead: list[int] = []

    async def watch() -> None:
        while not ranking.loaded:
            ahead.append(record.yielded - ranking.taken.get(slow, 0))
            await asyncio.sleep(0)

    watching = asyncio.create_task(watch())
    await maintenance(ranking, record).rebuild_boards(wanted)
    await watching
    assert set(ranking.loaded) == set(wanted)
    # Queued for the slow load, and one more held by the read until there is room.
    most = maintenance_module._CHUNKS_AHEAD + 1
    assert max(ahead) == most, ahead


async def test_a_failed_read_releases_every_lock() -> None:
    log: list[str] = []
    ranking, record = Ranking(log), Record(log, fail_after=0)
    with pytest.raises(RuntimeError, match="the record is gone"):
        await maintenance(ranking, record).rebuild_boards(keys("2026-01-01", list(Metric)))
    assert not ranking.locked
    assert not ranking.loaded


async def test_a_read_failing_midway_loads_nothing_and_releases_every_lock() -> None:
    log: list[str] = []
    ranking, record = Ranking(log), Record(log, fail_after=2)
    wanted = keys("2026-01-01", list(Metric))
    with pytest.raises(RuntimeError, match="the record is gone"):
        await maintenance(ranking, record).rebuild_boards(wanted)
    assert not ranking.locked
    # The loads had chunks, but none was let finish: none marked loaded.
    assert ranking.taken
    assert not ranking.loaded


async def test_a_failed_load_stops_the_read_and_releases_every_lock() -> None:
    log: list[str] = []
    ranking = Ranking(log)
    record = Record(log, athletes=[uuid4() for _ in range(20 * CHUNK)])
    wanted = keys("2026-01-01", list(Metric))
    ranking.failing = wanted[3]
    with pytest.raises(RuntimeError, match="refused"):
        await maintenance(ranking, record).rebuild_boards(wanted)
    assert not ranking.locked
    # The read was stopped (and closed) long before its end.
    assert record.closed == 1
    assert record.yielded <= maintenance_module._CHUNKS_AHEAD + 2
    assert wanted[3] not in ranking.loaded


async def test_a_whole_rebuild_removes_the_old_layout_first_and_rebuilds_what_it_held() -> None:
    log: list[str] = []
    ranking, record = Ranking(log), Record(log)
    held = keys("2026-01-01", [Metric.POINTS])
    old_loaded = keys("2025-06-01", [Metric.CALORIES, Metric.POINTS])
    ranking.held = held
    # One of the old layout's loaded boards is held in the current layout too.
    ranking.old = OldLayoutRemoved(7, [*old_loaded, *held])
    removing: list[int] = []
    progress: list[tuple[int, int]] = []

    rebuilt = await maintenance(ranking, record).rebuild(
        removing=removing.append, progress=lambda n, total: progress.append((n, total))
    )

    wanted = {*held, *old_loaded, *current_boards(T, ZoneInfo("UTC"))}
    assert set(ranking.loaded) == wanted
    assert (rebuilt.boards, rebuilt.old_layout) == (len(wanted), ranking.old)
    assert rebuilt.entries == sum(ranking.loaded.values())
    # Removed before anything else: before the boards held are listed, and before the
    # first board is locked.
    assert log[:2] == ["remove old layout", "loaded keys"]
    assert removing == [7]
    assert progress == [(n, len(wanted)) for n in range(len(wanted) + 1)]


async def test_a_whole_rebuild_of_an_index_without_an_earlier_layout() -> None:
    log: list[str] = []
    ranking, record = Ranking(log), Record(log)
    held = keys("2026-01-01", [Metric.POINTS])
    ranking.held = held

    rebuilt = await maintenance(ranking, record).rebuild()

    wanted = {*held, *current_boards(T, ZoneInfo("UTC"))}
    assert set(ranking.loaded) == wanted
    assert (rebuilt.boards, rebuilt.old_layout) == (len(wanted), None)
    assert log[0] == "remove old layout"


async def test_a_load_that_outlives_its_cancellation_ends_once_the_others_stopped() -> None:
    """A failed load stops the rebuild; a load whose cancellation is lost reads its stream
    on: it must get an end, not wait for chunks that no longer come (the rebuild never
    ended, its read of the record left open)."""
    log: list[str] = []
    ranking = Ranking(log)
    record = Record(log, athletes=[uuid4() for _ in range(20 * CHUNK)])
    wanted = keys("2026-01-01", list(Metric))
    ranking.failing, ranking.deaf_load = wanted[3], wanted[1]
    rebuilding = asyncio.create_task(maintenance(ranking, record).rebuild_boards(wanted))
    # Bounded: without an end for its stream, the deaf load waits for ever.
    done, _ = await asyncio.wait([rebuilding], timeout=30)
    assert done, "the rebuild waits for a load that outlived its cancellation"
    with pytest.raises(RuntimeError, match="refused"):
        rebuilding.result()
    assert not ranking.locked
    assert record.closed == 1
    assert not ranking.loaded


async def test_a_failed_instance_stops_the_rebuild_of_the_others() -> None:
    """The first failure is raised once the other instances' rebuilds are stopped, their
    locks released and reads closed: none goes on unobserved after the caller has the
    error (a CLI that closes its connections under it, an API that answered already)."""
    log: list[str] = []
    ranking = Ranking(log)
    record = Record(log, athletes=[uuid4() for _ in range(20 * CHUNK)])
    failing, slow = keys("2026-01-01", list(Metric)), keys("2026-01-02", list(Metric))
    ranking.failing, ranking.slow = failing[0], slow[0]
    with pytest.raises(RuntimeError, match="refused"):
        await maintenance(ranking, record).rebuild_boards(failing + slow)
    assert not ranking.locked
    assert record.closed == record.reads == 2
    steps = len(log)
    for _ in range(100):  # turns of the event loop a rebuild going on would use
        await asyncio.sleep(0)
    assert len(log) == steps, log[steps:]
    assert not ranking.loaded


async def test_a_rebuild_that_outlives_its_cancellation_begins_no_other_instance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(maintenance_module, "_REBUILDS_AT_ONCE", 2)
    log: list[str] = []
    ranking, record = Ranking(log), Record(log)
    # An instance for each rebuilder, and one that neither has begun when the first fails.
    first, second, third = (keys(f"2026-01-0{n}", list(Metric)) for n in (1, 2, 3))
    ranking.failing = first[0]
    # The second instance's rebuild is dropping its first board when the first fails,
    # and goes on once cancelled.
    ranking.deaf_drop = second[0]
    with pytest.raises(RuntimeError, match="refused"):
        await maintenance(ranking, record).rebuild_boards(first + second + third)
    assert set(ranking.loaded) == set(second)
    assert [e for e in log if e.startswith("read")] == ["read 2026-01-01", "read 2026-01-02"]
    assert not ranking.locked
