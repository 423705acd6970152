"""What reconciling the boards needs from the record: which board instances it implies,
and the standings of all the instances of a board, in bulk."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol
from uuid import UUID

from fitboard.domain.boards import BoardKey, Metric, Period, Scope


class RecordedBoards(Protocol):
    def reading(self) -> AbstractAsyncContextManager[RecordReader]:
        """One read of the record (one transaction: one snapshot where the database keeps
        one for a transaction's statements) for the reads of a reconcile."""
        ...


class RecordReader(Protocol):
    async def implied(self, period: Period) -> list[tuple[str, Scope]]:
        """Every (period key, scope) of `period` in which an athlete shown on boards has a
        daily rollup: the global scope, each activity they did, each group they are a
        member of. Each is an instance of every metric's board."""
        ...

    def scores(
        self, metric: Metric, period: Period, scope: Scope
    ) -> AsyncIterator[tuple[BoardKey, dict[UUID, int]]]:
        """Every instance of the board (`metric`, `period`, `scope`) on which someone
        scores, one at a time, with each athlete's score: what `RollupRepository.standings`
        gives for that instance. An activity or group scope without a value stands for every
        activity's or group's board. Streamed: one instance's athletes are held at a
        time."""
        ...
