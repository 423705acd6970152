"""RabbitMQ going away and coming back, for real: `rabbitmqctl stop_app` / `start_app`,
on the session's private node (tests/services), never the machine's broker.

While the broker is down a publish must fail fast with QueueUnavailable (the API answers
503, never 202). Once it is back, publishing and an already-running consumer must work
again without anybody restarting them. Each test leaves the node running and unblocked
(in a `finally`): the rest of the session uses it.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from fitboard.adapters.queue_rabbitmq import RabbitBroker
from fitboard.application.messaging.ports import Delivery, Message, QueueSpec
from fitboard.application.ports import QueueUnavailable
from fitboard.bootstrap import declare_when_reachable
from tests.services.session import SERVICES

from ..contract.queue_adapters import Consumer, bounded

pytestmark = pytest.mark.production

CONFIRM_TIMEOUT_S = 2.0


async def rabbitmqctl(*args: str) -> None:
    """rabbitmqctl against the session's node only."""
    await SERVICES.rabbitmq.ctl(*args)


async def start_broker() -> None:
    """Back up, its dead-letter workers started: each test deletes its queues as it ends,
    which right after a start would break the node (`await_dead_letter_workers`)."""
    await SERVICES.rabbitmq.start_app()


def message(n: int) -> Message:
    return Message("workout.submitted", f"{n}".encode(), str(uuid.uuid4()))


async def publish_until_accepted(broker: RabbitBroker, msg: Message, within_s: float) -> None:
    """The robust connection needs a moment to reconnect after the broker is back."""
    async with asyncio.timeout(within_s):
        while True:
            try:
                await broker.publish(msg)
                return
            except QueueUnavailable:
                await asyncio.sleep(0.5)


async def sent_and_received(broker: RabbitBroker, consumer: Consumer, n: int) -> Delivery:
    """Once the broker is back: `message(n)` published (as soon as the broker takes it)
    and received by `consumer`, unsettled."""
    sent = message(n)
    await publish_until_accepted(broker, sent, within_s=60)
    delivery = await consumer.next(timeout_s=60)
    assert delivery.message == sent
    return delivery


@bounded(180)
async def test_publish_fails_fast_while_down_and_everything_resumes_after(amqp_url: str) -> None:
    suffix = uuid.uuid4().hex[:10]
    broker = RabbitBroker(
        amqp_url, exchange=f"fitboard.test.{suffix}", confirm_timeout_s=CONFIRM_TIMEOUT_S
    )
    spec = QueueSpec(f"workouts.{suffix}", ("workout.submitted",))
    await broker.declare(spec)
    consumer = Consumer(broker, spec, prefetch=4)
    try:
        before = message(1)
        await broker.publish(before)
        delivery = await consumer.next()
        assert delivery.message == before
        await delivery.ack()

        try:
            await rabbitmqctl("stop_app")

            # Raised while the broker is still stopped: the publish gave up by itself
            # rather than waiting for the broker to come back. How fast is not asserted.
            with pytest.raises(QueueUnavailable):
                await broker.publish(message(2))
            with pytest.raises(QueueUnavailable):
                await broker.ping()
        finally:
            await start_broker()

        # The consumer started before the outage gets it without being touched.
        redelivered = await sent_and_received(broker, consumer, 3)
        assert redelivered.attempt == 1
        await redelivered.ack()
        await broker.ping()
    finally:
        await consumer.stop()
        await broker.delete(spec)
        await broker.delete_exchanges()
        await broker.close()


@bounded(120)
async def test_publish_gives_up_while_the_broker_blocks_publishers(amqp_url: str) -> None:
    """A memory alarm blocks every publishing connection: no confirm, so QueueUnavailable
    while the alarm holds, and publishing works again once the alarm clears."""
    suffix = uuid.uuid4().hex[:10]
    broker = RabbitBroker(
        amqp_url, exchange=f"fitboard.test.{suffix}", confirm_timeout_s=CONFIRM_TIMEOUT_S
    )
    spec = QueueSpec(f"workouts.{suffix}", ("workout.submitted",))
    await broker.declare(spec)
    consumer = Consumer(broker, spec, prefetch=4)
    try:
        await broker.publish(message(1))
        held = await consumer.next()
        try:
            # A watermark this low raises the memory alarm at once.
            await rabbitmqctl("set_vm_memory_high_watermark", "0.0000001")
            # Raised while the alarm still holds (it is cleared only below): without the
            # confirm timeout this publish would wait for as long as the alarm lasts.
            with pytest.raises(QueueUnavailable):
                await broker.publish(message(2))
            # Consumers have connections of their own, which the alarm does not block.
            await held.ack()
        finally:
            await rabbitmqctl("set_vm_memory_high_watermark", "0.4")

        after = message(3)
        await publish_until_accepted(broker, after, within_s=30)
        # The blocked publish may still land once unblocked (a 503 then is "not
        # confirmed", and consumers are idempotent on the id), so look for `after`.
        async with asyncio.timeout(30):
            while True:
                delivery = await consumer.next(timeout_s=30)
                await delivery.ack()
                if delivery.message == after:
                    break
    finally:
        await consumer.stop()
        await broker.delete(spec)
        await broker.delete_exchanges()
        await broker.close()


@bounded(180)
async def test_a_process_starting_before_its_broker_waits_for_it(amqp_url: str) -> None:
    """What `serve`, `worker` and `reports` do at start (bootstrap.build): a one-shot
    command (no wait) fails at once with QueueUnavailable, while a process given time
    keeps trying and has its queues once the broker is back, nobody restarting it."""
    suffix = uuid.uuid4().hex[:10]
    broker = RabbitBroker(
        amqp_url, exchange=f"fitboard.test.{suffix}", confirm_timeout_s=CONFIRM_TIMEOUT_S
    )
    spec = QueueSpec(f"workouts.{suffix}", ("workout.submitted",))
    try:
        try:
            await rabbitmqctl("stop_app")
            with pytest.raises(QueueUnavailable):
                await declare_when_reachable(broker, [spec], wait_s=0)
            waiting = asyncio.create_task(declare_when_reachable(broker, [spec], wait_s=120))
            await asyncio.sleep(3)
            assert not waiting.done(), "gave up (or declared) while the broker was stopped"
        finally:
            await start_broker()
        await asyncio.wait_for(waiting, timeout=120)
        # Declared for real: a mandatory publish to the queue's key is routed and confirmed.
        await publish_until_accepted(broker, message(1), within_s=30)
        consumer = Consumer(broker, spec, prefetch=1)
        try:
            delivery = await consumer.next(timeout_s=30)
            await delivery.ack()
        finally:
            await consumer.stop()
    finally:
        await broker.delete(spec)
        await broker.delete_exchanges()
        await broker.close()


@bounded(180)
async def test_a_consumer_started_while_the_broker_is_down_waits_for_it(amqp_url: str) -> None:
    """A worker that takes a partition during an outage (its peer died meanwhile) starts
    that partition's consumer with no broker to declare it on: the consumer waits and
    consumes once the broker is back, instead of failing and taking the worker down."""
    suffix = uuid.uuid4().hex[:10]
    broker = RabbitBroker(
        amqp_url, exchange=f"fitboard.test.{suffix}", confirm_timeout_s=CONFIRM_TIMEOUT_S
    )
    spec = QueueSpec(f"workouts.{suffix}", ("workout.submitted",))
    consumer: Consumer | None = None
    try:
        try:
            await rabbitmqctl("stop_app")
            consumer = Consumer(broker, spec, prefetch=4)
            # Still waiting, not failed, while the broker is stopped (a failure would
            # surface from `next` as what killed the consumer).
            assert await consumer.nothing_within(3)
        finally:
            await start_broker()
        await (await sent_and_received(broker, consumer, 1)).ack()
    finally:
        if consumer is not None:
            await consumer.stop()
        await broker.delete(spec)
        await broker.delete_exchanges()
        await broker.close()
