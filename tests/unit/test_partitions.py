"""A queue split in partitions (application/messaging/partitions.py): which partition a
message goes to and with what routing key, how partitions are dealt over the live
workers, how a worker's consumers of several queues feed one stream of batches, and how a
worker follows the roster (entrypoints/worker/runner.py)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import pytest

from fitboard.adapters.process_metrics import WORKER_PARTITIONS
from fitboard.adapters.queue_rabbitmq import _packed, _routed, retry_queue_name
from fitboard.adapters.queue_sqlite import SqliteBroker
from fitboard.application.messaging.consuming import merged_batches
from fitboard.application.messaging.partitions import (
    owned_partitions,
    partition_of,
    partitions_of,
)
from fitboard.application.messaging.ports import Message, QueueSpec
from fitboard.application.ports import StoreUnavailable
from fitboard.application.workouts.messages import workouts_queue
from fitboard.bootstrap import topology
from fitboard.entrypoints.worker.runner import consume_owned_partitions
from tests.services.running import eventually

PARENT = workouts_queue("ns", 5)


def test_partitions_are_queues_of_their_own_bound_to_the_parents_keys_suffixed() -> None:
    parts = partitions_of(PARENT, 3)
    assert [p.name for p in parts] == ["ns.workouts.p0", "ns.workouts.p1", "ns.workouts.p2"]
    assert parts[1].bindings == tuple(f"{key}.p1" for key in PARENT.bindings)
    assert all(p.parent == PARENT.name and p.home == PARENT.name for p in parts)
    assert all(p.max_attempts == PARENT.max_attempts for p in parts)
    # A partition's retries wait in its parent's retry queues.
    assert retry_queue_name(parts[2], 2.0) == retry_queue_name(PARENT, 2.0)
    assert PARENT.home == PARENT.name


def test_one_partition_is_the_queue_itself() -> None:
    assert partitions_of(PARENT, 1) == []
    assert topology("ns", 5) == topology("ns", 5, partitions=1)
    assert [q.name for q in topology("ns", 5, partitions=2)][2:] == [
        "ns.workouts.p0",
        "ns.workouts.p1",
    ]
    with pytest.raises(ValueError, match="one partition at least"):
        partitions_of(PARENT, 0)


def test_a_messages_partition_is_its_keys_remainder_the_same_everywhere() -> None:
    athlete = uuid.UUID("00000000-0000-0000-0000-000000000007")
    assert partition_of(athlete.int, 4) == 3
    assert partition_of(athlete.int, 1) == 0


def message(n: int, key: int | None, routing_key: str = "workout.submitted") -> Message:
    return Message(routing_key, b"{}", f"m{n}", partition_key=key)


def test_a_message_with_a_partition_key_is_published_to_its_partitions_routing_key() -> None:
    assert _routed(message(1, 7), 4) == "workout.submitted.p3"
    assert _routed(message(1, 7, "workout.deleted"), 4) == "workout.deleted.p3"
    # Not split, or a message of no partition (`workout.processed`): its own key.
    assert _routed(message(1, 7), 1) == "workout.submitted"
    assert _routed(message(1, None), 4) == "workout.submitted"


def test_messages_are_packed_only_with_those_of_their_partition() -> None:
    items = [(message(n, n), True) for n in range(6)]
    publishes, held = _packed(items, most=100, partitions=2)
    assert held == [[0, 2, 4], [1, 3, 5]]
    assert [_routed(m, 2) for m, _ in publishes] == ["workout.submitted.p0", "workout.submitted.p1"]
    # Unsplit, they all go one way.
    assert _packed(items, most=100)[1] == [[0, 1, 2, 3, 4, 5]]


@pytest.mark.parametrize(
    ("partitions", "live"),
    [(4, [0, 1]), (4, [0, 1, 2]), (8, [3, 5, 9]), (2, [0, 1, 2]), (1, [4])],
)
def test_partitions_are_dealt_round_the_live_workers_each_to_one(
    partitions: int, live: list[int]
) -> None:
    dealt = [owned_partitions(partitions, slot, live) for slot in live]
    assert sorted(p for owned in dealt for p in owned) == list(range(partitions))
    sizes = [len(owned) for owned in dealt]
    assert max(sizes) - min(sizes) <= 1


def test_a_worker_missing_from_the_roster_consumes_every_partition() -> None:
    assert owned_partitions(4, 2, [0, 1]) == (0, 1, 2, 3)
    assert owned_partitions(4, 0, []) == (0, 1, 2, 3)


class Item:
    """A delivery as far as merging goes: something with a name."""

    def __init__(self, name: str) -> None:
        self.name = name


async def source(batches: list[list[str]], then: asyncio.Event) -> AsyncIterator[list[Item]]:
    for batch in batches:
        yield [Item(name) for name in batch]
    await then.wait()


async def test_merged_batches_take_what_every_source_has_ready_up_to_the_size() -> None:
    open_ = asyncio.Event()
    merged = merged_batches(
        [source([["a1", "a2"]], open_), source([["b1"], ["b2", "b3"]], open_)],  # type: ignore[list-item]
        max_batch=4,
    )
    first = await anext(merged)
    await asyncio.sleep(0)
    rest = await anext(merged)
    names = [d.name for d in [*first, *rest]]  # type: ignore[attr-defined]
    assert sorted(names) == ["a1", "a2", "b1", "b2", "b3"]
    assert len(first) <= 4
    # Each source's own order is kept.
    assert [n for n in names if n[0] == "b"] == ["b1", "b2", "b3"]
    await merged.aclose()


async def test_a_source_is_asked_for_a_batch_only_when_the_stream_is() -> None:
    """What arrives while the handler works waits in its consumer, to come as one batch."""
    asked = 0

    async def always_ready() -> AsyncIterator[list[Item]]:
        nonlocal asked
        while True:
            asked += 1
            await asyncio.sleep(0)
            yield [Item(f"r{asked}")]

    merged = merged_batches([always_ready()], 10)  # type: ignore[list-item]
    await anext(merged)
    for _ in range(20):
        await asyncio.sleep(0)
    assert asked == 1
    await anext(merged)
    assert asked == 2
    await merged.aclose()


async def test_merged_batches_end_when_every_source_has_and_fail_with_a_source() -> None:
    done = asyncio.Event()
    done.set()
    ended = [b async for b in merged_batches([source([["x"]], done)], 10)]  # type: ignore[list-item]
    assert [[d.name for d in b] for b in ended] == [["x"]]  # type: ignore[attr-defined]

    async def failing() -> AsyncIterator[list[Item]]:
        yield [Item("y")]
        raise RuntimeError("the source broke")

    waiting = asyncio.Event()
    merged = merged_batches([failing(), source([], waiting)], 10)  # type: ignore[list-item]
    assert [d.name for d in await anext(merged)] == ["y"]  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError, match="the source broke"):
        await anext(merged)


async def test_closing_merged_batches_closes_every_source() -> None:
    closed: list[str] = []

    async def tracked(name: str) -> AsyncIterator[list[Item]]:
        try:
            yield [Item(name)]
            await asyncio.Event().wait()
        finally:
            closed.append(name)

    merged = merged_batches([tracked("a"), tracked("b")], 10)  # type: ignore[list-item]
    await anext(merged)
    await merged.aclose()
    assert sorted(closed) == ["a", "b"]


class Roster:
    """A roster whose live slots the test sets; `fail` makes it unreachable."""

    def __init__(self, slot: int, live: list[int]) -> None:
        self.slot, self.live_slots = slot, live
        self.fail = False
        self.left = False

    async def join(self) -> int:
        if self.fail:
            raise StoreUnavailable("down")
        return self.slot

    async def live(self) -> list[int]:
        if self.fail:
            raise StoreUnavailable("down")
        return self.live_slots

    async def leave(self) -> None:
        self.left = True


async def test_a_worker_follows_the_roster_and_keeps_its_partitions_while_it_is_unreachable() -> (
    None
):
    partitions = partitions_of(PARENT, 4)
    roster = Roster(slot=1, live=[0, 1])
    stop = asyncio.Event()
    consumed: list[list[int]] = []
    stops: list[asyncio.Event] = []

    async def consume(owned: Sequence[QueueSpec], until: asyncio.Event) -> None:
        consumed.append([int(p.name.rsplit(".p", 1)[1]) for p in owned])
        stops.append(until)
        await until.wait()

    async def until(condition: Callable[[], bool]) -> None:
        try:
            await eventually(condition, within_s=1.0, every_s=0.002)
        except TimeoutError:
            raise AssertionError(consumed) from None

    running = asyncio.create_task(
        consume_owned_partitions(partitions, roster, consume, stop, every_s=0.01)
    )
    await until(lambda: consumed == [[1, 3]])
    assert WORKER_PARTITIONS._value.get() == 2
    roster.live_slots = [1]  # the other worker left
    await until(lambda: consumed[-1] == [0, 1, 2, 3])
    assert WORKER_PARTITIONS._value.get() == 4
    # The consumer of the old set was stopped before the new one started.
    assert all(event.is_set() for event in stops[:-1])
    roster.live_slots = [0, 1, 2]
    await until(lambda: consumed[-1] == [1])
    roster.fail = True
    # Some twenty looks at a roster out of reach: the consumer in hand goes on.
    await asyncio.sleep(0.2)
    assert consumed[-1] == [1], consumed
    assert not stops[-1].is_set()
    roster.fail = False
    roster.live_slots = [1]
    await until(lambda: consumed[-1] == [0, 1, 2, 3])
    stop.set()
    await asyncio.wait_for(running, 5)
    assert roster.left
    assert stops[-1].is_set()


async def test_the_embedded_queue_refuses_a_partition(tmp_path: Path) -> None:
    broker = SqliteBroker(tmp_path / "queue.db")
    try:
        with pytest.raises(ValueError, match="not split in partitions"):
            await broker.declare(partitions_of(PARENT, 2)[0])
    finally:
        await broker.close()


async def test_a_roster_out_of_reach_is_said_once_and_its_return_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    roster = Roster(slot=0, live=[0])
    roster.fail = True
    stop = asyncio.Event()
    started: list[int] = []

    async def consume(owned: Sequence[QueueSpec], until: asyncio.Event) -> None:
        started.append(len(owned))
        await until.wait()

    with caplog.at_level(logging.INFO, logger="fitboard.entrypoints.worker.runner"):
        running = asyncio.create_task(
            consume_owned_partitions(partitions_of(PARENT, 2), roster, consume, stop, every_s=0.01)
        )
        await asyncio.sleep(0.2)  # about twenty looks, all failing
        roster.fail = False
        roster.live_slots = [0, 1]
        await eventually(lambda: started[-1] == 1, within_s=1.0, every_s=0.01)
        stop.set()
        await asyncio.wait_for(running, 5)
    said = [r.getMessage() for r in caplog.records]
    assert sum("out of reach" in line for line in said) == 1, said
    assert sum("roster is back" in line for line in said) == 1, said
    assert started[0] == 2  # every partition while out of reach since the start
    assert started[-1] == 1
