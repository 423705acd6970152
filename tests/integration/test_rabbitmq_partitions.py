"""A queue split in partitions on the real RabbitMQ (adapters/queue_rabbitmq.py with
`partitions`): each message lands in its partition and is read with its own routing key,
a partition's retries come back to its parent and its dead letters are the parent's, and
one consumer of several queues acks a merged batch on each of their channels."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import aio_pika
import pytest

from fitboard.adapters.queue_rabbitmq import RabbitBroker
from fitboard.application.messaging.consuming import run_batch_consumer
from fitboard.application.messaging.errors import PermanentFailure
from fitboard.application.messaging.partitions import (
    partition,
    partitions_beyond,
    partitions_of,
)
from fitboard.application.messaging.ports import Delivery, Message, QueueSpec
from tests.services.running import eventually

from ..contract.queue_adapters import Consumer, bounded

pytestmark = pytest.mark.production


@dataclass
class Split:
    broker: RabbitBroker
    parent: QueueSpec
    parts: list[QueueSpec]


@pytest.fixture
async def split(amqp_url: str) -> AsyncIterator[Split]:
    suffix = uuid.uuid4().hex[:10]
    broker = RabbitBroker(
        amqp_url, exchange=f"fitboard.test.{suffix}", confirm_timeout_s=5.0, partitions=2
    )
    parent = QueueSpec(f"work.{suffix}", ("job.done",), max_attempts=3, retry_delays_s=(0.2,))
    parts = partitions_of(parent, 2)
    for spec in (parent, *parts):
        await broker.declare(spec)
    try:
        yield Split(broker, parent, parts)
    finally:
        for spec in (*parts, parent):
            await broker.delete(spec)
        await broker.delete_exchanges()
        await broker.close()


def job(n: int, key: int | None) -> Message:
    return Message("job.done", f'{{"n":{n}}}'.encode(), f"job-{n}", partition_key=key)


async def ready(broker: RabbitBroker, spec: QueueSpec, count: int) -> None:
    async def holds() -> bool:
        return (await broker.depth(spec)).ready == count

    try:
        await eventually(holds, within_s=15)
    except TimeoutError:
        held = (await broker.depth(spec)).ready
        raise AssertionError(f"{spec.name} holds {held}, not {count}") from None


@bounded(60)
async def test_each_message_lands_in_its_partition_with_its_own_routing_key(split: Split) -> None:
    outcomes = await split.broker.publish_many([job(n, n) for n in range(6)] + [job(9, None)])
    assert outcomes == [None] * 7
    # Published together, each partition's three are packed in one AMQP message.
    await ready(split.broker, split.parts[0], 1)
    await ready(split.broker, split.parts[1], 1)
    await ready(split.broker, split.parent, 1)  # no partition key: the queue itself
    consumer = Consumer(split.broker, split.parts[1], prefetch=10)
    try:
        got = [await consumer.next() for _ in range(3)]
        assert sorted(d.message.message_id for d in got) == ["job-1", "job-3", "job-5"]
        assert {d.message.routing_key for d in got} == {"job.done"}
        for delivery in got:
            await delivery.ack()
    finally:
        await consumer.stop()


@bounded(60)
async def test_a_partitions_retry_comes_back_to_its_parent_and_its_dead_letter_is_the_parents(
    split: Split,
) -> None:
    await split.broker.publish(job(1, 1))
    await split.broker.publish(job(2, 1))
    consumer = Consumer(split.broker, split.parts[1], prefetch=10)
    try:
        retried, buried = await consumer.next(), await consumer.next()
        await retried.retry("try again", 0.2)
        await buried.dead_letter("never valid")
    finally:
        await consumer.stop()
    parent = Consumer(split.broker, split.parent, prefetch=10)
    try:
        again = await parent.next()
        assert again.message.message_id == "job-1"
        assert again.message.routing_key == "job.done"
        assert again.attempt == 2
        await again.ack()
    finally:
        await parent.stop()
    letters = await split.broker.dead_letters(split.parent)
    assert [(d.message.message_id, d.queue, d.reason) for d in letters] == [
        ("job-2", split.parent.name, "never valid")
    ]
    assert (await split.broker.depth(split.parent)).dead_letters == 1
    assert await split.broker.replay_dead_letters(split.parent) == 1
    await ready(split.broker, split.parent, 1)


@bounded(60)
async def test_the_brokers_own_delivery_limit_dead_letters_to_the_parent(
    split: Split, amqp_url: str
) -> None:
    """A message that keeps killing its consumer: the partition's x-delivery-limit sends
    it to the parent's dead letters through the broker, with no consumer surviving it."""
    await split.broker.publish(job(7, 0))
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.get_queue(split.parts[0].name, ensure=True)
        for _ in range(split.parent.max_attempts + 1):
            incoming = await queue.get(no_ack=False, timeout=5)
            assert incoming is not None
            await incoming.reject(requeue=True)
    finally:
        await connection.close()

    async def buried() -> bool:
        return (await split.broker.depth(split.parent)).dead_letters == 1

    # The listing below is the check; this only waits (up to 6 s) for the broker.
    with contextlib.suppress(TimeoutError):
        await eventually(buried, within_s=6)
    letters = await split.broker.dead_letters(split.parent)
    assert [d.message.message_id for d in letters] == ["job-7"]


@bounded(60)
async def test_one_consumer_of_a_queue_and_its_partitions_handles_and_acks_them_all(
    split: Split,
) -> None:
    """`run_batch_consumer` with `also`: batches merged from three queues (three channels),
    each acked; a poison message among them dead-lettered alone."""
    await split.broker.publish_many([job(n, n) for n in range(40)] + [job(99, None)])
    seen: list[str] = []
    stop = asyncio.Event()

    async def handler(deliveries: Sequence[Delivery]) -> None:
        if any(d.message.message_id == "job-13" for d in deliveries):
            raise PermanentFailure("job 13 is poison")
        seen.extend(d.message.message_id for d in deliveries)
        if len(seen) == 40:
            stop.set()

    await run_batch_consumer(
        split.broker,
        split.parent,
        handler,
        also=split.parts,
        prefetch=20,
        batch_size=16,
        stop=stop,
    )
    assert sorted(seen) == sorted(f"job-{n}" for n in [*range(40), 99] if n != 13)
    for spec in (split.parent, *split.parts):
        await ready(split.broker, spec, 0)
    letters = await split.broker.dead_letters(split.parent)
    assert [d.message.message_id for d in letters] == ["job-13"]


@bounded(60)
async def test_partitions_beyond_a_smaller_setting_are_found_up_to_the_first_missing(
    split: Split,
) -> None:
    """The fixture made 2 partitions: an unsplit worker (no partitions of its own) finds
    both, one split in 2 finds none beyond them, and a third partition made later is found
    after them."""
    assert [s.name for s in await partitions_beyond(split.broker, split.parent, 0)] == [
        p.name for p in split.parts
    ]
    assert await partitions_beyond(split.broker, split.parent, 2) == []
    third = partition(split.parent, 2)
    await split.broker.declare(third)
    try:
        assert await partitions_beyond(split.broker, split.parent, 2) == [third]
    finally:
        await split.broker.delete(third)
