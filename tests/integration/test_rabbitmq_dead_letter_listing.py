"""Listing and replaying dead letters does not wait on the dead-letter queue's message
count, and what a listing handed back is found by the next one at once.

A passive declare of a quorum queue answers with the count of the queue's Ra leader,
asked with a 250 ms bound: RabbitMQ 3.10 answers 0 when the leader does not answer in
time (`rabbit_quorum_queue:stat/2`), and messages handed back (nacked with requeue) are
counted only once their requeue is committed to the queue's log, after a write of the
node's WAL. On a loaded machine both take seconds, and a listing that waited for the
count to show what it handed back waited out its whole bound (the publish-confirm
timeout) on every call. Here the broker is made to answer 0 for the dead-letter queue,
as it does then; the messages are there all along. On the session's node.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiormq
import pytest
from pamqp.commands import Queue

from fitboard.adapters.queue_rabbitmq import RabbitBroker
from fitboard.application.messaging.ports import Message, QueueSpec

from ..contract.queue_adapters import bounded

pytestmark = pytest.mark.production

# Far above what a listing takes: a listing bounded by it is one that waited it out.
CONFIRM_TIMEOUT_S = 30.0
QUICK_S = 5.0
# More than the 32 commands a RabbitMQ channel sends to a quorum queue before it waits
# for some to be applied: a hand back of this many is sent in several rounds.
LETTERS = 40


def count_no_dead_letters(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every passive declare of a dead-letter queue answers 0 messages."""
    declare = aiormq.Channel.queue_declare

    async def declared(channel: aiormq.Channel, *args: Any, **kwargs: Any) -> Queue.DeclareOk:
        result: Queue.DeclareOk = await declare(channel, *args, **kwargs)
        if kwargs.get("passive") and str(kwargs.get("queue", "")).endswith(".dlq"):
            result.message_count = 0
        return result

    monkeypatch.setattr(aiormq.Channel, "queue_declare", declared)


@bounded(120)
async def test_listing_and_replay_do_not_wait_for_the_count_to_show_the_hand_back(
    amqp_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    suffix = uuid.uuid4().hex[:10]
    broker = RabbitBroker(
        amqp_url, exchange=f"fitboard.test.{suffix}", confirm_timeout_s=CONFIRM_TIMEOUT_S
    )
    spec = QueueSpec(f"dead-listing.{suffix}", ("k",))
    await broker.declare(spec)
    deliveries = broker.consume(spec, prefetch=LETTERS)
    try:
        ids = [f"m{n}" for n in range(LETTERS)]
        await broker.publish_many([Message("k", b"{}", id_) for id_ in ids])
        for _ in ids:
            await (await anext(deliveries)).dead_letter("bad input")
        await deliveries.aclose()
        count_no_dead_letters(monkeypatch)

        for _ in range(3):
            # Each listing hands back all it read; the next one finds them all again.
            async with asyncio.timeout(QUICK_S):
                listed = await broker.dead_letters(spec, limit=LETTERS + 10)
            assert sorted(d.message.message_id for d in listed) == sorted(ids)

        async with asyncio.timeout(QUICK_S):
            assert await broker.replay_dead_letters(spec, ["m7"]) == 1
        async with asyncio.timeout(QUICK_S):
            left = await broker.dead_letters(spec, limit=LETTERS + 10)
        assert sorted(d.message.message_id for d in left) == sorted(set(ids) - {"m7"})
    finally:
        await deliveries.aclose()
        monkeypatch.undo()
        await broker.delete(spec)
        await broker.delete_exchanges()
        await broker.close()
