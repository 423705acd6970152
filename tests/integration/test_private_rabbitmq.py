"""The private RabbitMQ node: reachable, confirmed messages survive a crash, its control
reaches it alone, and it never touches the machine's broker."""

from __future__ import annotations

import asyncio
import uuid

import aio_pika
import pytest

from fitboard.adapters.queue_rabbitmq import RabbitBroker
from fitboard.application.messaging.ports import QueueSpec
from tests.services.rabbitmq import private_rabbitmq
from tests.services.running import refuses_connections

from ..contract.queue_adapters import bounded

pytestmark = pytest.mark.production

# RabbitMQ 3.10 (Debian's) does not make a new quorum queue crash-safe at once: a node
# killed within a second or so of the declaration came back with that queue wedged and
# empty (no message, a get never answered), while a queue declared a few seconds before
# kept every confirmed message. Production queues are long-lived, so the crash comes
# after this settling time here too.
QUEUE_SETTLE_S = 5.0


@bounded(300)
async def test_a_killed_node_comes_back_with_what_it_confirmed() -> None:
    async with private_rabbitmq() as node:
        queue_name = f"survives.{uuid.uuid4().hex[:8]}"
        connection = await aio_pika.connect(node.url)
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue(
            queue_name, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await asyncio.sleep(QUEUE_SETTLE_S)
        await channel.default_exchange.publish(
            aio_pika.Message(b"kept", delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=queue_name,
        )
        await connection.close()
        # Its control command names this node, not the machine's.
        assert queue_name in await node.ctl("list_queues", "name")

        await node.kill()
        assert await refuses_connections(node.port)
        await node.start()

        connection = await aio_pika.connect(node.url)
        try:
            channel = await connection.channel()
            queue = await channel.declare_queue(queue_name, passive=True)
            message = await queue.get(no_ack=True, fail=False)
            assert message is not None
            assert message.body == b"kept"
        finally:
            await connection.close()


@bounded(300)
async def test_queues_deleted_as_soon_as_start_app_returns_leave_the_node_working() -> None:
    """`start_app` returns once the dead-letter workers have started: deleting the queues
    straight after it (a test's cleanup after a restart) must leave the node declaring
    new ones. RabbitMQ 3.10 otherwise loses the workers' supervisor and refuses every
    later declare with INTERNAL_ERROR: here when `start_app` returned as soon as
    `rabbitmqctl start_app` did (the first round's declare failed), and in CI on a loaded
    machine when it returned after `rabbitmqctl await_startup` (an idle machine's workers
    were ready by then)."""
    async with private_rabbitmq() as node:
        for round_ in range(3):
            specs = [QueueSpec(f"restarted.{round_}.{n}", ("workout.submitted",)) for n in range(3)]
            before = RabbitBroker(node.url, exchange="fitboard.test", confirm_timeout_s=5.0)
            try:
                for spec in specs:
                    await before.declare(spec)
            finally:
                await before.close()
            await node.ctl("stop_app")
            await node.start_app()
            # A new client, connected at once: the deletes come as soon as they can.
            after = RabbitBroker(node.url, exchange="fitboard.test", confirm_timeout_s=5.0)
            try:
                for spec in specs:
                    await after.delete(spec)
                fresh = QueueSpec(f"fresh.{round_}", ("workout.submitted",))
                await after.declare(fresh)
                await after.delete(fresh)
            finally:
                await after.close()
