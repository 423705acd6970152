"""RabbitMQ's retry queues are permanent: a queue that holds a waiting message can never
expire under it (on RabbitMQ 3.10 an `x-expires` counts from the queue's creation and a
redeclare does not renew it, which once deleted delay queues with their messages)."""

from __future__ import annotations

import uuid

import aio_pika
import pytest

from fitboard.adapters.queue_rabbitmq import RabbitBroker, retry_queue_name
from fitboard.application.messaging.ports import QueueSpec

from ..contract.queue_adapters import bounded

pytestmark = pytest.mark.production


@bounded()
async def test_every_retry_step_has_a_queue_that_never_expires(amqp_url: str) -> None:
    suffix = uuid.uuid4().hex[:10]
    broker = RabbitBroker(amqp_url, exchange=f"fitboard.test.{suffix}")
    spec = QueueSpec(f"workouts.{suffix}", ("workout.submitted",), retry_delays_s=(0.5, 30.0))
    await broker.declare(spec)
    connection = await aio_pika.connect(amqp_url)
    try:
        for step in spec.retry_delays_s:
            # A redeclare must match the queue's arguments: RabbitMQ refuses one that lacks
            # an x-expires the queue has ("received none but current is ..."). So this
            # declare, written out here without x-expires, passes only if the queue that
            # `declare` made has no expiry either.
            channel = await connection.channel()
            await channel.declare_queue(
                retry_queue_name(spec, step),
                durable=True,
                arguments={
                    "x-queue-type": "quorum",
                    "x-message-ttl": round(step * 1000),
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": spec.name,
                    "x-dead-letter-strategy": "at-least-once",
                    "x-overflow": "reject-publish",
                },
            )
            await channel.close()
    finally:
        await connection.close()
        await broker.delete(spec)
        await broker.delete_exchanges()
        await broker.close()
