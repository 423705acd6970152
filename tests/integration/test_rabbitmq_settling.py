"""A delivery being retried is not acked by the multiple ack of a later batch.

`retry` (and a dead letter) publishes the message's copy before it settles the original:
until then the original is unacked on its channel. A worker settles batches concurrently,
and `ack_many` acks a batch with one multiple ack when no earlier delivery of the channel
is unsettled. Were the original counted as settled meanwhile, that multiple ack would ack
it too; and should its copy then fail to publish (publisher down while the consumer's own
connection lives), the requeue that follows would come too late: the message would be
lost (and the requeue's nack of an acked tag closes the channel). On the session's node.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from fitboard.adapters.queue_rabbitmq import RabbitBroker
from fitboard.application.messaging.ports import Message, QueueSpec
from fitboard.application.ports import QueueUnavailable

from ..contract.queue_adapters import bounded

pytestmark = pytest.mark.production


@bounded(60)
async def test_a_retry_whose_copy_fails_comes_back_though_a_later_batch_was_acked(
    amqp_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    suffix = uuid.uuid4().hex[:10]
    broker = RabbitBroker(amqp_url, exchange=f"fitboard.test.{suffix}", confirm_timeout_s=2.0)
    spec = QueueSpec(f"settling.{suffix}", ("k",))
    await broker.declare(spec)
    batches = broker.consume_batches(spec, prefetch=4, max_batch=1)
    try:
        await broker.publish_many([Message("k", b"a", "a"), Message("k", b"b", "b")])
        (first,) = await anext(batches)
        (second,) = await anext(batches)
        assert (first.message.message_id, second.message.message_id) == ("a", "b")

        copy_attempted = asyncio.Event()
        release = asyncio.Event()

        async def publisher_down(*_: object) -> None:
            copy_attempted.set()
            await release.wait()
            raise QueueUnavailable("the publishing connection is down (test)")

        monkeypatch.setattr(broker, "_publish_delayed", publisher_down)
        retrying = asyncio.create_task(first.retry("failed", 0.0))
        await copy_attempted.wait()
        # The later batch is acked while the first delivery's copy is still on its way.
        await broker.ack_many([second])
        release.set()
        with pytest.raises(QueueUnavailable):
            await retrying

        # The copy failed, so the original went back to its queue: it comes again.
        (again,) = await asyncio.wait_for(anext(batches), 15)
        assert again.message.message_id == "a"
        await broker.ack_many([again])
    finally:
        await batches.aclose()
        monkeypatch.undo()
        await broker.delete(spec)
        await broker.delete_exchanges()
        await broker.close()
