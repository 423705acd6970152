"""The consumer loop with the retry policy, on both queue adapters: what reaches the dead
letters, and what waits out an outage however many times it fails."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fitboard.application.messaging.consuming import run_consumer
from fitboard.application.messaging.errors import PermanentFailure
from fitboard.application.messaging.ports import Delivery, Message, QueueSpec
from fitboard.application.ports import StoreUnavailable

from .queue_adapters import WAIT_S, QueueHarness, bounded, queues_fixture, wait_for_dead_letters

__all__ = ["queues_fixture"]

FAST_STEPS = (0.05, 0.1)


def submitted() -> Message:
    return Message(routing_key="workout.submitted", body=b"{}", message_id=str(uuid.uuid4()))


class ScriptedHandler:
    """Raises, for each message id, the errors queued for it one after another, then
    succeeds; counts the successes."""

    def __init__(self, failures: dict[str, list[Exception]]) -> None:
        self.failures = failures
        self.succeeded: Counter[str] = Counter()

    async def __call__(self, delivery: Delivery) -> None:
        errors = self.failures.get(delivery.message.message_id, [])
        if errors:
            raise errors.pop(0)
        self.succeeded[delivery.message.message_id] += 1


@asynccontextmanager
async def consuming(
    queues: QueueHarness, spec: QueueSpec, handler: ScriptedHandler
) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_consumer(queues.broker, spec, handler, prefetch=4, stop=stop))
    try:
        yield
    finally:
        stop.set()
        async with asyncio.timeout(WAIT_S):
            await task


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
