"""A group of publishes is one write to the connection's writer, and a group whose frames
could not be handed over is taken back whole.

`RabbitBroker` numbers a group's publishes itself (the delivery tags the broker's
confirms name) and queues all their frames at once (queue_rabbitmq._publish_together).
Were the numbers of a group that never reached the broker kept, the broker's confirms of
the next messages would be matched to the wrong publishes: callers answered for messages
that were not stored, and the stored ones timing out. On the session's node.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiormq
import pytest

from fitboard.adapters.queue_rabbitmq import RabbitBroker
from fitboard.application.messaging.ports import Message, QueueSpec
from fitboard.application.ports import QueueUnavailable

from ..contract.queue_adapters import bounded

pytestmark = pytest.mark.production


class _WriteQueue:
    """Stands for the connection's write queue: counts the writes handed to it, and
    refuses the first `refuse` of them."""

    def __init__(self, queue: asyncio.Queue[Any], refuse: int = 0) -> None:
        self._queue = queue
        self.refuse = refuse
        self.puts = 0

    async def put(self, frame: Any) -> None:
        self.puts += 1
        if self.refuse:
            self.refuse -= 1
            raise ValueError("the writer refused the frames (test)")
        await self._queue.put(frame)


async def _underlay(broker: RabbitBroker) -> aiormq.Channel:
    channel, _, _ = await broker._publisher()
    underlay = await channel.get_underlay_channel()
    assert isinstance(underlay, aiormq.Channel)
    return underlay


async def _drain(broker: RabbitBroker, spec: QueueSpec, count: int) -> list[str]:
    batches = broker.consume_batches(spec, prefetch=count, max_batch=count)
    seen: list[str] = []
    try:
        while len(seen) < count:
            batch = await anext(batches)
            seen += [delivery.message.message_id for delivery in batch]
            await broker.ack_many(batch)
    finally:
        await batches.aclose()
    return seen


@bounded(60)
async def test_a_group_is_one_write_and_each_message_is_confirmed(
    amqp_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    suffix = uuid.uuid4().hex[:10]
    broker = RabbitBroker(amqp_url, exchange=f"fitboard.test.{suffix}", confirm_timeout_s=5.0)
    spec = QueueSpec(f"group.{suffix}", ("k",))
    await broker.declare(spec)
    try:
        underlay = await _underlay(broker)
        writes = _WriteQueue(underlay.write_queue)
        monkeypatch.setattr(underlay, "write_queue", writes)
        messages = [Message("k", f"body {i}".encode(), f"m{i}") for i in range(50)]
        assert await broker.publish_many(messages) == [None] * 50
        assert writes.puts == 1
        # Every confirm was matched to its publish: nothing is left waiting for one.
        assert underlay.confirmations == {}
        assert underlay.message_id_delivery_tag == {}
        assert sorted(await _drain(broker, spec, 50)) == sorted(m.message_id for m in messages)
    finally:
        await broker.delete(spec)
        await broker.delete_exchanges()
        await broker.close()


@bounded(60)
async def test_a_group_not_handed_to_the_writer_is_taken_back_whole(
    amqp_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    suffix = uuid.uuid4().hex[:10]
    broker = RabbitBroker(amqp_url, exchange=f"fitboard.test.{suffix}", confirm_timeout_s=3.0)
    spec = QueueSpec(f"group.{suffix}", ("k",))
    await broker.declare(spec)
    try:
        underlay = await _underlay(broker)
        tag_before = underlay.delivery_tag
        writes = _WriteQueue(underlay.write_queue, refuse=1)
        monkeypatch.setattr(underlay, "write_queue", writes)
        refused = [Message("k", b"lost", f"lost{i}") for i in range(3)]
        outcomes = await broker.publish_many(refused)
        assert all(isinstance(outcome, QueueUnavailable) for outcome in outcomes)
        assert underlay.delivery_tag == tag_before
        assert underlay.confirmations == {}
        assert underlay.message_id_delivery_tag == {}

        # The same channel goes on: the broker's confirms of the next group are matched
        # to its own publishes (with the refused group's numbers kept they would not be,
        # and these would time out).
        assert await _underlay(broker) is underlay
        stored = [Message("k", b"kept", f"kept{i}") for i in range(2)]
        assert await broker.publish_many(stored) == [None, None]
        assert sorted(await _drain(broker, spec, 2)) == ["kept0", "kept1"]
    finally:
        await broker.delete(spec)
        await broker.delete_exchanges()
        await broker.close()


@bounded(60)
async def test_a_message_that_cannot_be_encoded_fails_alone(amqp_url: str) -> None:
    suffix = uuid.uuid4().hex[:10]
    broker = RabbitBroker(amqp_url, exchange=f"fitboard.test.{suffix}", confirm_timeout_s=5.0)
    spec = QueueSpec(f"group.{suffix}", ("k",))
    await broker.declare(spec)
    try:
        # AMQP caps a routing key at 255 bytes: this one cannot be framed at all.
        unframable = Message("k" * 300, b"never", "never")
        outcomes = await broker.publish_many(
            [Message("k", b"a", "a"), unframable, Message("k", b"b", "b")]
        )
        assert outcomes[0] is None
        assert outcomes[2] is None
        assert isinstance(outcomes[1], QueueUnavailable)
        assert sorted(await _drain(broker, spec, 2)) == ["a", "b"]
    finally:
        await broker.delete(spec)
        await broker.delete_exchanges()
        await broker.close()
