"""Operating fitboard: reaching its dependencies, the workout queue's backlog and dead
letters, the size of the boards and of the record."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from fitboard.application.boards.ports import RankingIndex, RankingStats
from fitboard.application.messaging.ports import DeadLetter, MessageBroker, QueueDepth, QueueSpec
from fitboard.application.ports import Clock, Store, Transaction
from fitboard.application.workouts.ports import InFlightWorkouts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Status:
    """How fitboard stands: the workout queue, the boards, the record."""

    queue: QueueDepth
    boards: RankingStats
    record_bytes: int
    oldest_unprocessed_age_s: float


class Operations:
    """What an operator asks of the dependencies and of the workout queue."""

    def __init__(
        self,
        store: Store[Transaction],
        ranking: RankingIndex,
        broker: MessageBroker,
        workouts_queue: QueueSpec,
        inflight: InFlightWorkouts,
        clock: Clock,
        partitions: Sequence[QueueSpec] = (),
    ) -> None:
        """`partitions`: the workers' queue's partitions, counted in its depth."""
        self._store = store
        self._ranking = ranking
        self._broker = broker
        self._queue = workouts_queue
        self._partitions = tuple(partitions)
        self._inflight = inflight
        self._clock = clock

    @property
    def queue_name(self) -> str:
        return self._queue.name

    def _pings(self) -> dict[str, Callable[[], Awaitable[None]]]:
        return {
            "store": self._store.ping,
            "ranking": self._ranking.ping,
            "queue": self._broker.ping,
        }

    async def reach_all(self) -> None:
        """Return when every dependency answers; raise the first one's
        DependencyUnavailable otherwise."""
        for ping in self._pings().values():
            await ping()

    async def readiness(self) -> dict[str, str]:
        """ "ok" or "unavailable" for each dependency. The cause of a failure goes to the
        log only: the answer names the dependency, never an address or a driver message."""
        results: dict[str, str] = {}
        for name, ping in self._pings().items():
            try:
                await ping()
                results[name] = "ok"
            except Exception as exc:
                log.warning("readyz: %s unavailable: %s: %s", name, type(exc).__name__, exc)
                results[name] = "unavailable"
        return results

    async def queue_depth(self) -> QueueDepth:
        """The workers' queue's, with the messages ready in its partitions added in. Its
        consumers are the parent queue's alone: every worker consumes it (and the
        partitions it owns besides), so that count is the workers'."""
        depth = await self._broker.depth(self._queue)
        for partition in self._partitions:
            depth = replace(depth, ready=depth.ready + (await self._broker.depth(partition)).ready)
        return depth

    async def oldest_unprocessed_age_s(self) -> float:
        """Seconds since the longest-waiting accepted workout not yet in the record was
        accepted, from the in-flight marks (made at the 202, cleared once processed); 0
        when none waits."""
        oldest = await self._inflight.oldest_marked_at()
        if oldest is None:
            return 0.0
        return max(0.0, (self._clock.now() - oldest).total_seconds())

    async def board_stats(self, largest: int) -> RankingStats:
        return await self._ranking.stats(largest)

    async def status(self, largest: int) -> Status:
        """The queue's depth and the age of its oldest workout, the boards (the `largest`
        biggest named) and the record's size."""
        return Status(
            await self.queue_depth(),
            await self.board_stats(largest),
            await self._store.size_bytes(),
            await self.oldest_unprocessed_age_s(),
        )

    async def dead_letters(self, limit: int) -> list[DeadLetter]:
        """Workout messages that were given up on, oldest first, with the reason."""
        return await self._broker.dead_letters(self._queue, limit)

    async def replay_dead_letters(self, ids: Sequence[str] | None) -> int:
        """Put dead letters back on the queue with a fresh attempt count: all of them, or
        those ids. Returns how many moved."""
        return await self._broker.replay_dead_letters(self._queue, ids)
