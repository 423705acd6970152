"""A RabbitMQ consumer acks in delivery order (`queue_rabbitmq._Session.ack`).

A worker settles the batches it holds in any order. A multiple ack settles every delivery
of the channel up to its tag, so the ack of a batch handed out after one not settled yet
is held back, its tag still counted unsettled, until the earlier one is settled: then one
multiple ack goes for both. Held for `_ACK_HOLD_S` at most, it then goes by itself; held
when the consumer closes, it goes before the channel does. A retry or dead letter of an
earlier delivery publishes its copy before the original is acked, so a held ack waits for
that too.

The acks sent are counted on the consumer's own channel: aiormq's `Channel.basic_ack`,
which aio-pika's ack calls, wrapped with a spy that records each frame's delivery tag and
`multiple` (delivery tags count from 1 on each new channel: the first delivery of a
session is tag 1). What the broker holds comes from `rabbitmqctl` (the consumer's channel's
unacked count, and the queue's gauges). On the session's node, each test on queues of its
own.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiormq
import pytest

from fitboard.adapters import queue_rabbitmq
from fitboard.adapters.queue_rabbitmq import RabbitBroker
from fitboard.application.messaging.ports import Delivery, Message, QueueSpec
from tests.services.running import eventually

from ..contract.queue_adapters import Consumer, bounded
from .test_rabbitmq_prefetch import _broker_says, _close_consumer_connection, _ctl, _queue_counts

pytestmark = pytest.mark.production

# Long enough for a stray delivery (one redelivered) to arrive on the session's node.
QUIET_S = 1.5


@dataclass
class Rig:
    """A broker that never packs (each message its own AMQP message and delivery tag), its
    queue, and what was sent: ("ack", tag, multiple) for each basic.ack frame, ("copy",
    message id) for each retry's or dead letter's copy confirmed."""

    broker: RabbitBroker
    spec: QueueSpec
    exchange: str
    events: list[tuple[Any, ...]] = field(default_factory=list)

    def acks(self) -> list[tuple[Any, ...]]:
        return [event[1:] for event in self.events if event[0] == "ack"]


@contextlib.asynccontextmanager
async def _rig(amqp_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rig]:
    suffix = uuid.uuid4().hex[:10]
    exchange = f"fitboard.test.{suffix}"
    broker = RabbitBroker(
        amqp_url, exchange=exchange, confirm_timeout_s=2.0, max_items_per_message=1
    )
    spec = QueueSpec(f"ack-order.{suffix}", ("k",))
    await broker.declare(spec)
    rig = Rig(broker, spec, exchange)
    basic_ack = aiormq.Channel.basic_ack

    async def spy(
        channel: aiormq.Channel, delivery_tag: int, multiple: bool = False, wait: bool = True
    ) -> None:
        await basic_ack(channel, delivery_tag, multiple, wait)
        rig.events.append(("ack", delivery_tag, multiple))

    monkeypatch.setattr(aiormq.Channel, "basic_ack", spy)
    try:
        await broker.publish_many([Message("k", name.encode(), name) for name in "ab"])
        yield rig
    finally:
        monkeypatch.undo()
        cleaner = RabbitBroker(amqp_url, exchange=exchange)
        await broker.close()
        await cleaner.delete(spec)
        await cleaner.delete_exchanges()
        await cleaner.close()


def _consumer(rig: Rig) -> Consumer:
    """A consumer of batches of one (`consume`), pumped from a task of its own."""
    return Consumer(rig.broker, rig.spec, prefetch=4)


async def _two(consumer: Consumer) -> tuple[Delivery, Delivery]:
    """The two messages, one batch each: a (tag 1), then b (tag 2)."""
    a, b = await consumer.next(), await consumer.next()
    assert (a.message.message_id, b.message.message_id) == ("a", "b")
    return a, b


async def _channel_unacked(spec: QueueSpec) -> int:
    """What the queue's consumer's channel holds unacked, as the channel counts it now."""
    (channel,) = [
        pid
        for name, pid in await _ctl("list_consumers", "queue_name", "channel_pid")
        if name == spec.name
    ]
    (count,) = [
        int(unacked)
        for pid, unacked in await _ctl("list_channels", "pid", "messages_unacknowledged")
        if pid == channel
    ]
    return count


async def _only_comes_again(amqp_url: str, rig: Rig, message_id: str) -> None:
    """A new consumer gets `message_id` again, and nothing else: the rest was acked."""
    survivor = RabbitBroker(amqp_url, exchange=rig.exchange)
    consumer = Consumer(survivor, rig.spec, prefetch=4)
    try:
        again = await consumer.next(15)
        assert (again.message.message_id, again.attempt) == (message_id, 2)
        assert await consumer.nothing_within(QUIET_S)
        await survivor.ack_many([again])
    finally:
        await consumer.stop()
        await survivor.close()


@bounded(90)
async def test_a_later_batch_acked_first_goes_out_with_the_earlier_one_in_one_multiple_ack(
    amqp_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Held as long as it takes: what is checked here is the order, not the bound.
    monkeypatch.setattr(queue_rabbitmq, "_ACK_HOLD_S", 60.0)
    async with _rig(amqp_url, monkeypatch) as rig:
        consumer = _consumer(rig)
        try:
            a, b = await _two(consumer)
            await rig.broker.ack_many([b])
            # Held back: no frame, and the broker still counts both unacked.
            assert rig.acks() == []
            await _broker_says(lambda: _channel_unacked(rig.spec), 2)
            assert rig.acks() == []

            await rig.broker.ack_many([a])
            # One frame for both: a multiple ack on b's tag.
            assert rig.acks() == [(2, True)]
            await _broker_says(lambda: _channel_unacked(rig.spec), 0)
            await _broker_says(lambda: _queue_counts(rig.spec), (0, 0))
            # Nothing comes again, to this consumer or after it.
            assert await consumer.nothing_within(QUIET_S)
        finally:
            await consumer.stop()
        assert rig.acks() == [(2, True)]
        survivor = _consumer(rig)
        try:
            assert await survivor.nothing_within(QUIET_S)
        finally:
            await survivor.stop()


@bounded(90)
async def test_a_held_ack_goes_by_itself_once_its_time_is_up(
    amqp_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """a is never settled; b's ack, held back for it, goes by itself after the bound.
    Then the broker closes the consumer's connection: a comes again, b does not."""
    hold_s = queue_rabbitmq._ACK_HOLD_S
    assert 0.05 <= hold_s <= 1.0
    async with _rig(amqp_url, monkeypatch) as rig:
        consumer = _consumer(rig)
        try:
            _, b = await _two(consumer)
            loop = asyncio.get_running_loop()
            acked_at = loop.time()
            await rig.broker.ack_many([b])
            await asyncio.sleep(hold_s / 2)
            assert rig.acks() == []
            await eventually(lambda: bool(rig.acks()), within_s=hold_s + 2.0, every_s=0.01)
            assert loop.time() - acked_at >= hold_s * 0.9
            assert rig.acks() == [(2, False)]
            await _broker_says(lambda: _channel_unacked(rig.spec), 1)

            # Lost, as the consumer sees it: nothing more is sent before it reconnects.
            await _close_consumer_connection(rig.spec)
            again = await consumer.next(15)
            assert (again.message.message_id, again.attempt) == ("a", 2)
            assert await consumer.nothing_within(QUIET_S)
            await again.ack()
            await _broker_says(lambda: _queue_counts(rig.spec), (0, 0))
        finally:
            await consumer.stop()


@pytest.mark.parametrize("settle", ["retry", "dead_letter"])
@bounded(90)
async def test_a_held_ack_waits_for_an_earlier_delivery_s_copy(
    amqp_url: str, monkeypatch: pytest.MonkeyPatch, settle: str
) -> None:
    """a is retried (or dead-lettered) and its copy takes a while to publish; b is acked
    meanwhile. Nothing is acked before a's copy is confirmed: then one multiple ack
    settles both. Nothing is lost: the retried copy comes back (or the dead letter is
    listed), and an ack of it with nothing held below goes at once."""
    monkeypatch.setattr(queue_rabbitmq, "_ACK_HOLD_S", 60.0)
    async with _rig(amqp_url, monkeypatch) as rig:
        publishing = asyncio.Event()
        release = asyncio.Event()
        name = "_publish_delayed" if settle == "retry" else "_publish_dead_letter"
        publish: Callable[..., Awaitable[None]] = getattr(rig.broker, name)

        async def slow_copy(spec: QueueSpec, message: Message, *args: Any, **kwargs: Any) -> None:
            publishing.set()
            await release.wait()
            await publish(spec, message, *args, **kwargs)
            rig.events.append(("copy", message.message_id))

        monkeypatch.setattr(rig.broker, name, slow_copy)
        consumer = _consumer(rig)
        try:
            a, b = await _two(consumer)
            settling = asyncio.create_task(
                a.retry("failed", 0.0) if settle == "retry" else a.dead_letter("poison")
            )
            await publishing.wait()
            await rig.broker.ack_many([b])
            assert rig.events == []
            await _broker_says(lambda: _channel_unacked(rig.spec), 2)
            release.set()
            await settling
            assert rig.events == [("copy", "a"), ("ack", 2, True)]

            if settle == "retry":
                again = await consumer.next(15)
                assert (again.message.message_id, again.retries) == ("a", 1)
                # Nothing below it unsettled: sent by the time the ack returns.
                await again.ack()
                assert rig.acks() == [(2, True), (3, False)]
            else:
                letters = await rig.broker.dead_letters(rig.spec)
                assert [letter.message.message_id for letter in letters] == ["a"]
            assert await consumer.nothing_within(QUIET_S)
            await _broker_says(lambda: _channel_unacked(rig.spec), 0)
            await _broker_says(lambda: _queue_counts(rig.spec), (0, 0))
        finally:
            await consumer.stop()


@pytest.mark.parametrize("closing", ["consumer", "broker client"])
@bounded(90)
async def test_acks_held_when_the_consumer_closes_are_sent_first(
    amqp_url: str, monkeypatch: pytest.MonkeyPatch, closing: str
) -> None:
    """b's ack is held back for a when the consumer is closed (its iterator, or the whole
    broker client): b's ack goes out before the channel closes, a goes back to the queue
    as a crash leaves it, and only a comes again."""
    monkeypatch.setattr(queue_rabbitmq, "_ACK_HOLD_S", 60.0)
    async with _rig(amqp_url, monkeypatch) as rig:
        consumer = _consumer(rig)
        try:
            _, b = await _two(consumer)
            await rig.broker.ack_many([b])
            assert rig.acks() == []
            if closing == "broker client":
                await rig.broker.close()
                assert rig.acks() == [(2, False)]
        finally:
            await consumer.stop()
        assert rig.acks() == [(2, False)]
        await _only_comes_again(amqp_url, rig, "a")
