"""The batch consumer loop with the retry policy, on both queue adapters: one message at a
time, what reaches the dead letters, and what waits out an outage however many times it
fails; in batches, a poison message is isolated and an outage does not split a batch."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fitboard.application.messaging.consuming import batch_prefetch, run_batch_consumer
from fitboard.application.messaging.errors import PartlyHandled, PermanentFailure
from fitboard.application.messaging.ports import Delivery, Message, QueueSpec
from fitboard.application.ports import StoreUnavailable

from .queue_adapters import WAIT_S, QueueHarness, bounded, queues_fixture, wait_for_dead_letters

__all__ = ["queues_fixture"]

FAST_STEPS = (0.05, 0.1)


def submitted() -> Message:
    return Message(routing_key="workout.submitted", body=b"{}", message_id=str(uuid.uuid4()))


class ScriptedHandler:
    """A handler of batches of one that raises, for each message id, the errors queued for
    it one after another (one an attempt), then succeeds; counts the successes."""

    def __init__(self, failures: dict[str, list[Exception]]) -> None:
        self.failures = failures
        self.succeeded: Counter[str] = Counter()

    async def __call__(self, deliveries: Sequence[Delivery]) -> None:
        (delivery,) = deliveries
        errors = self.failures.get(delivery.message.message_id, [])
        if errors:
            raise errors.pop(0)
        self.succeeded[delivery.message.message_id] += 1


@asynccontextmanager
async def running(
    consumer: Callable[[asyncio.Event], Coroutine[Any, Any, None]],
) -> AsyncIterator[None]:
    """Run `consumer` (given its stop event) for the block, then stop it gracefully."""
    stop = asyncio.Event()
    task = asyncio.create_task(consumer(stop))
    try:
        yield
    finally:
        stop.set()
        async with asyncio.timeout(WAIT_S):
            await task


def consuming(
    queues: QueueHarness, spec: QueueSpec, handler: ScriptedHandler
) -> AbstractAsyncContextManager[None]:
    """`handler` handed one message at a time (batches of one), four at once."""
    return running(
        lambda stop: run_batch_consumer(
            queues.broker, spec, handler, prefetch=4, batch_size=1, stop=stop, concurrency=4
        )
    )


async def until(condition: Callable[[], bool], within_s: float) -> None:
    async with asyncio.timeout(within_s):
        while True:
            if condition():
                return
            await asyncio.sleep(0.05)


@bounded(120)
async def test_an_outage_longer_than_every_attempt_dead_letters_nothing(
    queues: QueueHarness,
) -> None:
    spec = await queues.declare(
        "workouts", ("workout.submitted",), max_attempts=2, retry_delays_s=FAST_STEPS
    )
    messages = [submitted() for _ in range(5)]
    # Each fails ten times in a row for want of the database: five times max_attempts.
    handler = ScriptedHandler(
        {m.message_id: [StoreUnavailable("connection refused")] * 10 for m in messages}
    )
    for message in messages:
        await queues.broker.publish(message)
    async with consuming(queues, spec, handler):
        await until(lambda: sum(handler.succeeded.values()) == len(messages), 60)
    assert handler.succeeded == Counter({m.message_id: 1 for m in messages})
    assert await queues.broker.dead_letters(spec) == []


@bounded()
async def test_a_permanent_failure_is_dead_lettered_on_its_first_attempt(
    queues: QueueHarness,
) -> None:
    spec = await queues.declare("workouts", ("workout.submitted",), retry_delays_s=FAST_STEPS)
    bad, good = submitted(), submitted()
    handler = ScriptedHandler({bad.message_id: [PermanentFailure("distance_m: negative")]})
    await queues.broker.publish(bad)
    await queues.broker.publish(good)
    async with consuming(queues, spec, handler):
        await until(lambda: handler.succeeded[good.message_id] == 1, WAIT_S)
        await wait_for_dead_letters(queues, spec, 1)
    [dead] = await queues.broker.dead_letters(spec)
    assert (dead.message, dead.reason, dead.attempts) == (bad, "distance_m: negative", 1)
    assert handler.succeeded[bad.message_id] == 0


@bounded()
async def test_an_unexpected_error_is_dead_lettered_once_attempts_run_out(
    queues: QueueHarness,
) -> None:
    spec = await queues.declare(
        "workouts", ("workout.submitted",), max_attempts=3, retry_delays_s=FAST_STEPS
    )
    message = submitted()
    handler = ScriptedHandler({message.message_id: [RuntimeError("a bug")] * 10})
    await queues.broker.publish(message)
    async with consuming(queues, spec, handler):
        await wait_for_dead_letters(queues, spec, 1)
    [dead] = await queues.broker.dead_letters(spec)
    assert dead.message == message
    assert dead.reason == "failed 3 times; last error: RuntimeError: a bug"
    assert dead.attempts == 3
    # Three attempts raised; the rest of the script was never reached.
    assert len(handler.failures[message.message_id]) == 7


class BatchHandler:
    """A batch handler that fails a whole batch when it holds a poison message, and fails
    the first `outages` batches it sees for want of the database; records every batch it
    was handed as (message id, retries) pairs."""

    def __init__(self, poison: frozenset[str] = frozenset(), outages: int = 0) -> None:
        self.poison = poison
        self.outages = outages
        self.succeeded: Counter[str] = Counter()
        self.calls: list[list[tuple[str, int]]] = []

    async def __call__(self, deliveries: Sequence[Delivery]) -> None:
        self.calls.append([(d.message.message_id, d.retries) for d in deliveries])
        if self.outages:
            self.outages -= 1
            raise StoreUnavailable("connection refused")
        bad = [d.message.message_id for d in deliveries if d.message.message_id in self.poison]
        if bad:
            raise PermanentFailure(f"poison {bad[0]}")
        self.succeeded.update(d.message.message_id for d in deliveries)


def failures_into(failed: list[tuple[str, str]]) -> Callable[[str, float, str | None], None]:
    """An `on_settled` that keeps (outcome, cause) of each failed delivery."""

    def settled(outcome: str, seconds: float, cause: str | None) -> None:
        if cause is not None:
            failed.append((outcome, cause))

    return settled


def consuming_batches(
    queues: QueueHarness,
    spec: QueueSpec,
    handler: Callable[[Sequence[Delivery]], Coroutine[Any, Any, None]],
    batch_size: int = 8,
    concurrency: int = 1,
    failed: list[tuple[str, str]] | None = None,
) -> AbstractAsyncContextManager[None]:
    return running(
        lambda stop: run_batch_consumer(
            queues.broker,
            spec,
            handler,
            prefetch=batch_prefetch(concurrency, batch_size),
            batch_size=batch_size,
            stop=stop,
            concurrency=concurrency,
            on_settled=None if failed is None else failures_into(failed),
        )
    )


@bounded()
async def test_a_poison_message_in_a_batch_is_dead_lettered_alone_and_the_rest_processed(
    queues: QueueHarness,
) -> None:
    spec = await queues.declare("workouts", ("workout.submitted",), retry_delays_s=FAST_STEPS)
    messages = [submitted() for _ in range(16)]
    poison = messages[5]
    handler = BatchHandler(poison=frozenset({poison.message_id}))
    assert all(o is None for o in await queues.broker.publish_many(messages))
    failed: list[tuple[str, str]] = []
    # Batches of at most 6, two at a time: batches settled out of order ack right too.
    async with consuming_batches(queues, spec, handler, batch_size=6, concurrency=2, failed=failed):
        await until(lambda: sum(handler.succeeded.values()) == 15, WAIT_S)
        await wait_for_dead_letters(queues, spec, 1)
    # Every valid message once, the poison never; it alone is dead-lettered, on its
    # first attempt, with its own reason.
    assert handler.succeeded == Counter({m.message_id: 1 for m in messages if m is not poison})
    [dead] = await queues.broker.dead_letters(spec)
    assert (dead.message, dead.reason, dead.attempts) == (poison, f"poison {poison.message_id}", 1)
    # Told once, for the poison alone, with its cause (the process's failure metric).
    assert failed == [("dead_lettered", "PermanentFailure")]
    # The valid ones came in batches, not one by one (the poison's batch was split).
    assert any(len(call) > 1 for call in handler.calls)


@bounded()
async def test_an_outage_makes_a_whole_batch_wait_without_splitting_it(
    queues: QueueHarness,
) -> None:
    spec = await queues.declare(
        "workouts", ("workout.submitted",), max_attempts=2, retry_delays_s=FAST_STEPS
    )
    messages = [submitted() for _ in range(6)]
    # More failed batches than max_attempts: waiting for a dependency uses up nothing.
    handler = BatchHandler(outages=4)
    assert all(o is None for o in await queues.broker.publish_many(messages))
    async with consuming_batches(queues, spec, handler):
        await until(lambda: sum(handler.succeeded.values()) == len(messages), 30)
    assert handler.succeeded == Counter({m.message_id: 1 for m in messages})
    assert await queues.broker.dead_letters(spec) == []
    # Never split: a message is handed over again only once it has been sent back to
    # wait (its retries went up), never a second time within one delivery.
    seen: dict[str, list[int]] = {}
    for call in handler.calls:
        for message_id, retries in call:
            seen.setdefault(message_id, []).append(retries)
    assert all(r == sorted(set(r)) for r in seen.values()), seen
    assert any(len(r) > 1 for r in seen.values())


class PartlyHandler:
    """A batch handler that handles each batch but its poison messages (refused for good)
    and, the first time it sees it, a flaky one (its dependency is out): it says which
    with `PartlyHandled`. Records every batch it was handed as (message id, retries)."""

    def __init__(self, poison: frozenset[str], flaky: str) -> None:
        self.poison = poison
        self.flaky = flaky
        self.succeeded: Counter[str] = Counter()
        self.calls: list[list[tuple[str, int]]] = []

    async def __call__(self, deliveries: Sequence[Delivery]) -> None:
        self.calls.append([(d.message.message_id, d.retries) for d in deliveries])
        failures: dict[int, Exception] = {}
        for index, delivery in enumerate(deliveries):
            message_id = delivery.message.message_id
            if message_id in self.poison:
                failures[index] = PermanentFailure(f"poison {message_id}")
            elif message_id == self.flaky and delivery.retries == 0:
                failures[index] = StoreUnavailable("connection refused")
            else:
                self.succeeded[message_id] += 1
        if failures:
            raise PartlyHandled(failures)


@bounded()
async def test_a_partly_handled_batch_acks_the_rest_and_settles_each_failure_alone(
    queues: QueueHarness,
) -> None:
    spec = await queues.declare("workouts", ("workout.submitted",), retry_delays_s=FAST_STEPS)
    messages = [submitted() for _ in range(12)]
    poison = frozenset({messages[2].message_id, messages[7].message_id})
    flaky = messages[4].message_id
    handler = PartlyHandler(poison, flaky)
    assert all(o is None for o in await queues.broker.publish_many(messages))
    failed: list[tuple[str, str]] = []
    async with consuming_batches(queues, spec, handler, batch_size=12, failed=failed):
        await until(lambda: sum(handler.succeeded.values()) == 10, WAIT_S)
        await wait_for_dead_letters(queues, spec, 2)
    # Every valid message handled once, the flaky one after its wait; the poison ones
    # dead-lettered on their first attempt with their own reasons.
    assert handler.succeeded == Counter(
        {m.message_id: 1 for m in messages if m.message_id not in poison}
    )
    dead = await queues.broker.dead_letters(spec)
    assert sorted((d.message.message_id, d.reason, d.attempts) for d in dead) == sorted(
        (p, f"poison {p}", 1) for p in poison
    )
    assert sorted(failed) == [
        ("dead_lettered", "PermanentFailure"),
        ("dead_lettered", "PermanentFailure"),
        ("waiting", "StoreUnavailable"),
    ]
    # No batch was split or handed over again: each message came once, the flaky one a
    # second time only once it had been sent back to wait.
    handed = Counter(message_id for call in handler.calls for message_id, _ in call)
    assert handed == Counter({m.message_id: 1 for m in messages}) + Counter({flaky: 1})
    assert any(len(call) > 1 for call in handler.calls)


@bounded()
async def test_a_batch_is_taken_only_once_the_gate_lets_it(queues: QueueHarness) -> None:
    """The consumer looks at its gate before taking each batch (a slot being free): shut,
    nothing is taken, though slots are free and messages ready; open, every message is
    handled, each batch after a look of its own."""
    spec = await queues.declare("workouts", ("workout.submitted",), retry_delays_s=FAST_STEPS)
    messages = [submitted() for _ in range(6)]
    assert all(o is None for o in await queues.broker.publish_many(messages))
    opened = asyncio.Event()
    steps: list[str] = []
    handled: list[str] = []

    async def gate() -> None:
        steps.append("gate")
        await opened.wait()

    async def handler(deliveries: Sequence[Delivery]) -> None:
        steps.append("batch")
        handled.extend(d.message.message_id for d in deliveries)

    async with running(
        lambda stop: run_batch_consumer(
            queues.broker,
            spec,
            handler,
            prefetch=batch_prefetch(2, 2),
            batch_size=2,
            stop=stop,
            concurrency=2,
            gate=gate,
        )
    ):
        await until(lambda: steps == ["gate"], WAIT_S)
        # Shut: a while later still nothing taken, with two slots free.
        await asyncio.sleep(0.5)
        assert steps == ["gate"]
        opened.set()
        await until(lambda: len(handled) == len(messages), WAIT_S)
    assert sorted(handled) == sorted(m.message_id for m in messages)
    # Every batch was taken after a look at the gate of its own.
    for at, step in enumerate(steps):
        if step == "batch":
            assert steps[:at].count("gate") > steps[:at].count("batch")
