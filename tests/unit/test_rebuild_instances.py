"""`BoardMaintenance.rebuild_boards`: the boards of one instance rebuilt together from
one read of the record, every board dropped before that read, each board's lock released
as soon as it is loaded, and every lock released when the rebuild fails."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest

from fitboard.application.boards.maintenance import BoardMaintenance
from fitboard.application.boards.record_instances import RecordedInstance
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
ATHLETES = [uuid4() for _ in range(3)]


class Record:
    def __init__(self, log: list[str], fail: bool = False) -> None:
        self.log = log
        self.fail = fail
        self.reads = 0

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Record]:
        yield self

    async def instance(
        self, period: Period, key: str, scope: Scope, metrics: Sequence[Metric]
    ) -> RecordedInstance:
        self.reads += 1
        self.log.append(f"read {key}")
        if self.fail:
            raise RuntimeError("the record is gone")
        scores: dict[Metric, dict[UUID, int]] = {
            m: {a: n + 1 for n, a in enumerate(ATHLETES)} for m in metrics
        }

        def versioned(metric: Metric) -> list[VersionedStanding]:
            return [VersionedStanding(Standing(a, s, T), 1) for a, s in scores[metric].items()]

        return RecordedInstance(period, key, scope, scores, versioned)


class Ranking:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.locked: set[BoardKey] = set()
        self.loaded: dict[BoardKey, int] = {}

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

    async def load(self, key: BoardKey, standings: Sequence[VersionedStanding]) -> None:
        assert key in self.locked
        self.loaded[key] = len(standings)
        self.log.append(f"load {key}")


def maintenance(ranking: Ranking, record: Record) -> BoardMaintenance:
    none: Any = None
    return BoardMaintenance(cast(Any, ranking), none, ZoneInfo("UTC"), cast(Any, record))


def keys(period_key: str, metrics: Sequence[Metric]) -> list[BoardKey]:
    return [BoardKey(BoardId(m, Period.DAY, Scope.global_()), period_key) for m in metrics]


async def test_one_read_per_instance_and_each_lock_released_once_loaded() -> None:
    log: list[str] = []
    ranking, record = Ranking(log), Record(log)
    two = [Metric.CALORIES, Metric.POINTS]
    wanted = keys("2026-01-01", list(Metric)) + keys("2026-01-02", two)
    entries = await maintenance(ranking, record).rebuild_boards(wanted)
    assert entries == len(ATHLETES) * len(wanted)
    assert record.reads == 2
    assert set(ranking.loaded) == set(wanted)
    assert not ranking.locked
    # One instance's steps (the rebuilders interleave instances, not their steps).
    a, b = sorted(keys("2026-01-02", two), key=str)
    steps = [e for e in log if e.endswith((str(a), str(b), " 2026-01-02"))]
    assert steps == [
        f"lock {a}",
        f"lock {b}",
        f"drop {a}",
        f"drop {b}",
        "read 2026-01-02",
        f"load {a}",
        f"unlock {a}",
        f"load {b}",
        f"unlock {b}",
    ]


async def test_a_failed_read_releases_every_lock() -> None:
    log: list[str] = []
    ranking, record = Ranking(log), Record(log, fail=True)
    with pytest.raises(RuntimeError):
        await maintenance(ranking, record).rebuild_boards(keys("2026-01-01", list(Metric)))
    assert not ranking.locked
    assert not ranking.loaded
