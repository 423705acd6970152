"""A queue split in partitions, each consumed by one worker at a time.

Two workers sharing one queue take every athlete's workouts in turns, and their units of
work then wait on each other's locks on the same athletes' rows and boards: at 32 busy
athletes a second worker added 21% to one worker's drain, at 1,000 athletes 65%
(docs/benchmarks.md, "Session 25"). Split in partitions, the queue holds each athlete's
messages in one partition (by their `Message.partition_key`), and each partition is
consumed by one worker at a time: the workers' units of work hold disjoint athletes.

A partition is a queue of its own (`partitions_of`), bound to its parent's routing keys
each suffixed with the partition (`partition_routing_key`); the broker publishes a
message with a partition key to that routing key (the message's own routing key is kept
in its headers, so a consumer reads it unchanged). Its retries wait in the parent's
retry queues and come back to the parent, and its dead letters are the parent's: an
operator finds them in one place, as before the split. The parent keeps its own
bindings: what an older release publishes there, and every retry, is consumed by all
workers.

Which partitions a worker consumes follows from the live workers (`owned_partitions`):
each worker holds a numbered slot for as long as it lives (`WorkerRoster`), and the
partitions are dealt round the live slots in order. Ownership is about speed only, not
correctness: a unit of work is correct whoever runs it (its locks order two workers on
one athlete), so a moment in which two workers consume one partition (while they see
the roster differently) costs nothing but that moment's contention. A partition no worker
thinks its own waits until the next look at the roster, so a worker that has not read the
roster since it started consumes every partition; one that read it before and cannot now
(PostgreSQL out of reach, when no unit of work can be done either) keeps what it had
(entrypoints/worker/runner.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from fitboard.application.messaging.ports import MessageBroker, QueueSpec
from fitboard.application.ports import QueueUnavailable


def partition_routing_key(routing_key: str, partition: int) -> str:
    """The routing key a message of `routing_key` is published with to `partition`."""
    return f"{routing_key}.p{partition}"


def partition_of(partition_key: int, partitions: int) -> int:
    """The partition of a message with `partition_key`, of `partitions`: the key's
    remainder, the same in every process (Python's own `hash` of a string is not)."""
    return partition_key % partitions


def partition(parent: QueueSpec, index: int) -> QueueSpec:
    """Partition `index` of `parent`: bound to the parent's routing keys suffixed with it."""
    return replace(
        parent,
        name=f"{parent.name}.p{index}",
        bindings=tuple(partition_routing_key(key, index) for key in parent.bindings),
        parent=parent.name,
    )


def partitions_of(parent: QueueSpec, partitions: int) -> list[QueueSpec]:
    """The partitions of `parent` when it is split in `partitions` (none for 1)."""
    if partitions < 1:
        raise ValueError("a queue has one partition at least")
    if partitions == 1:
        return []
    return [partition(parent, index) for index in range(partitions)]


# The most partitions a deployment may have (Settings.workout_partitions).
MOST_PARTITIONS = 64


async def partitions_beyond(
    broker: MessageBroker, parent: QueueSpec, partitions: int
) -> list[QueueSpec]:
    """The partitions of `parent` beyond the `partitions` the deployment has (as many as
    `partitions_of` makes: none unsplit) that exist on the broker, up to the first that
    does not: made by a process split in more (a deployment that lowered
    FITBOARD_WORKOUT_PARTITIONS, or an API process started with more than the workers).
    Each worker looks when it starts and consumes them too, so that no such partition's
    messages wait for a worker that will never come. A broker out of reach finds none."""
    found: list[QueueSpec] = []
    for index in range(partitions, MOST_PARTITIONS):
        spec = partition(parent, index)
        try:
            if not await broker.exists(spec):
                break
        except QueueUnavailable:
            break
        found.append(spec)
    return found


def owned_partitions(partitions: int, slot: int, live: Sequence[int]) -> tuple[int, ...]:
    """The partitions the worker of `slot` consumes, when `live` are the slots of the live
    workers (its own among them): dealt round the live slots in their order, so each
    worker has `partitions // len(live)` of them or one more. A worker missing from
    `live` (the roster lost it for a moment) consumes every partition: a partition
    consumed twice costs contention, one consumed by nobody waits."""
    ranks = sorted(set(live))
    if slot not in ranks:
        return tuple(range(partitions))
    rank = ranks.index(slot)
    return tuple(range(rank, partitions, len(ranks)))


class WorkerRoster(Protocol):
    """The live workers of a deployment, each with a numbered slot it holds while it lives
    (`owned_partitions` deals the partitions over them)."""

    async def join(self) -> int:
        """Take the lowest free slot and hold it until `leave` or until this process dies;
        returns it. Raises a `PortError` when the roster cannot be reached."""
        ...

    async def live(self) -> list[int]:
        """The slots held now, this worker's among them while it holds one. Raises a
        `PortError` when the roster cannot be read (this worker's slot may be lost: join
        again)."""
        ...

    async def leave(self) -> None:
        """Give the slot up (idempotent; a worker that never joined has none)."""
        ...
