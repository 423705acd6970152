"""What reconciling and rebuilding the boards need from the record: which board instances
it implies, and the standings of all the instances of a period and scope, every metric's
together, in bulk; or of one instance's boards of some metrics, for a rebuild, streamed in
chunks of a few athletes so that no board is ever held whole."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date
from typing import Protocol
from uuid import UUID

from fitboard.domain.boards import BoardId, BoardKey, Metric, Period, Scope, VersionedStanding


@dataclass(frozen=True)
class InstanceOfBoards:
    """One instance (period key and scope) of every metric's board."""

    period: Period
    period_key: str
    scope: Scope

    def key(self, metric: Metric) -> BoardKey:
        return BoardKey(BoardId(metric, self.period, self.scope), self.period_key)


@dataclass(frozen=True)
class RecordedInstance(InstanceOfBoards):
    """An instance as the record ranks it: each metric's athletes with their scores
    (`RollupRepository.standings`' scores for that board)."""

    scores: Mapping[Metric, dict[UUID, int]]


# A chunk of one instance's standings, as a rebuild streams them: for each metric asked
# for, the standings on its board of the same few athletes (those of the chunk ranked on
# it: an athlete may be on one metric's board and not on another's).
StandingsChunk = Mapping[Metric, Sequence[VersionedStanding]]


@dataclass(frozen=True)
class LoadedInstance(InstanceOfBoards):
    """An instance as a load fills it from the record: each metric's standings, with each
    athlete's version (`StandingsChunk`)."""

    standings: StandingsChunk


class RecordedBoards(Protocol):
    def reading(self) -> AbstractAsyncContextManager[RecordReader]:
        """One read of the record (one transaction: one snapshot where the database keeps
        one for a transaction's statements) for the reads of a reconcile or a rebuild."""
        ...


class RecordReader(Protocol):
    async def implied(self, period: Period) -> list[tuple[str, Scope]]:
        """Every (period key, scope) of `period` in which an athlete shown on boards has a
        daily rollup: the global scope, each activity they did, each group they are a
        member of. Each is an instance of every metric's board."""
        ...

    def instances(self, period: Period, scope: Scope) -> AsyncIterator[RecordedInstance]:
        """Every instance of `period` in `scope` on which someone has a rollup, one at a
        time, with every metric's standings on it. An activity or group scope without a
        value stands for every activity's or group's instances. Streamed: one instance's
        athletes are held at a time."""
        ...

    def instance_standings(
        self, period: Period, scope: Scope, days: tuple[date | None, date | None]
    ) -> AsyncIterator[LoadedInstance]:
        """`instances`, with each metric's standings as a load takes them, from the
        rollups of the days between `days` (first and last, inclusive; None: unbounded),
        for loading many instances from one statement. An instance is summed over its
        days among those only: give spans that hold whole instances."""
        ...

    def instance_chunks(
        self, period: Period, key: str, scope: Scope, metrics: Sequence[Metric]
    ) -> AsyncGenerator[StandingsChunk, None]:
        """The instance `key` of `period` in `scope` (one activity's or group's, or the
        global one), streamed from one statement as the database reads it: chunks of a
        few thousand athletes, each with the standings of each of `metrics`' boards among
        them. A metric's chunks together are what `RollupRepository.standings` gives for
        its board (no one ranked: no chunks, or empty ones); an athlete is in one chunk
        only. InvalidField for a malformed `key` (raised by the first step). Close it
        (`aclose`) when it is left before its end: it holds the statement's cursor."""
        ...
