"""Several messages travel in one AMQP message ("packed"), and each is still its own
`Delivery`, settled on its own.

In one group-commit write, `RabbitBroker` packs the messages that share a routing key and
a `mandatory` flag into AMQP messages of up to `max_items_per_message` items (header
`x-fitboard-items`); a message alone in its group stays a plain AMQP message. The AMQP
message is acked only once every item of it is settled, so a consumer that goes away
before that leaves it to the broker, which delivers it again; the adapter then splits it
into single messages that carry the attempt count on. What the queue holds is counted in
AMQP messages. On the session's node.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from fitboard.adapters.amqp_packing import pack
from fitboard.adapters.queue_rabbitmq import RabbitBroker
from fitboard.application.messaging.ports import Delivery, Message, QueueSpec
from fitboard.application.ports import QueueUnavailable

from ..contract.queue_adapters import WAIT_S, Consumer, bounded

pytestmark = pytest.mark.production

H_ITEMS = "x-fitboard-items"
# Long enough for a stray delivery (a packed message acked too early or twice, an item
# left behind by a split) to arrive on the session's node.
QUIET_S = 2.0


def _broker(amqp_url: str, suffix: str, max_items_per_message: int = 100) -> RabbitBroker:
    return RabbitBroker(
        amqp_url,
        exchange=f"fitboard.test.{suffix}",
        confirm_timeout_s=5.0,
        max_items_per_message=max_items_per_message,
    )


def _messages(prefix: str, count: int, routing_key: str = "k") -> list[Message]:
    """Messages whose bodies and headers a packing must carry exactly: an empty body,
    bytes that are not text, and non-ASCII header values among them."""
    bodies = [b"", b"\x00\xff\x00 not text", b'{"json": true}', "ünïcode".encode()]
    return [
        Message(
            routing_key,
            bodies[n % len(bodies)] + f" #{n}".encode() * (n % 3),
            f"{prefix}{n}",
            {"trace": f"t-{prefix}-{n}", "note": "ünï"} if n % 2 == 0 else {},
        )
        for n in range(count)
    ]


@contextlib.asynccontextmanager
async def _observer(
    amqp_url: str, exchange: str, keys: Sequence[str]
) -> AsyncIterator[AbstractQueue]:
    """A queue of its own bound to the exchange with `keys`: it receives a copy of every
    AMQP message published with them, to look at as the broker stores them."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        for key in keys:
            await queue.bind(exchange, routing_key=key)
        yield queue
    finally:
        await connection.close()


async def _observed(queue: AbstractQueue) -> list[AbstractIncomingMessage]:
    """Every AMQP message the observer holds (publishes were confirmed, so routed)."""
    seen: list[AbstractIncomingMessage] = []
    while (incoming := await queue.get(no_ack=True, fail=False)) is not None:
        seen.append(incoming)
    return seen


def _items(incoming: AbstractIncomingMessage) -> int | None:
    value: Any = (incoming.headers or {}).get(H_ITEMS)
    if value is None:
        return None
    return int(value.decode() if isinstance(value, bytes) else value)


async def _take(
    batches: AsyncIterator[Sequence[Delivery]], count: int, timeout_s: float = WAIT_S
) -> list[Delivery]:
    """The next `count` deliveries, across as many batches as they come in."""
    taken: list[Delivery] = []
    while len(taken) < count:
        taken += await asyncio.wait_for(anext(batches), timeout_s)
    assert len(taken) == count, [d.message.message_id for d in taken]
    return taken


async def _next_n(consumer: Consumer, count: int) -> list[Delivery]:
    return [await consumer.next() for _ in range(count)]


async def _alone_again(broker: RabbitBroker, spec: QueueSpec, left: Delivery) -> None:
    """`left` was not settled, its consumer is gone, and the others delivered with it were
    acked: it comes again alone, one attempt on, if it is a single message (split); a
    packed message would bring back its settled items with it."""
    consumer = Consumer(broker, spec, prefetch=10)
    try:
        again = await consumer.next()
        assert again.message == left.message
        assert again.attempt == left.attempt + 1
        await again.ack()
        assert await consumer.nothing_within(QUIET_S)
    finally:
        await consumer.stop()


async def _cleanup(broker: RabbitBroker, *specs: QueueSpec) -> None:
    for spec in specs:
        await broker.delete(spec)
    await broker.delete_exchanges()
    await broker.close()


@bounded(60)
async def test_one_publish_many_is_one_amqp_message_handed_out_item_by_item(
    amqp_url: str,
) -> None:
    suffix = uuid.uuid4().hex[:10]
    broker = _broker(amqp_url, suffix)
    spec = QueueSpec(f"packed.{suffix}", ("k",))
    await broker.declare(spec)
    batches = broker.consume_batches(spec, prefetch=10, max_batch=4)
    try:
        messages = _messages("m", 10)
        async with _observer(amqp_url, f"fitboard.test.{suffix}", ["k"]) as observer:
            assert await broker.publish_many(messages) == [None] * 10
            (stored,) = await _observed(observer)
        assert _items(stored) == 10
        assert (await broker.depth(spec)).ready == 1

        sizes: list[int] = []
        delivered: list[Delivery] = []
        while len(delivered) < 10:
            batch = await asyncio.wait_for(anext(batches), WAIT_S)
            sizes.append(len(batch))
            delivered += batch
            await broker.ack_many(batch)
        # max_batch counts items: the packed message's items beyond it come next.
        assert sizes == [4, 4, 2]
        assert [d.message for d in delivered] == messages
        assert all(d.attempt == 1 and d.retries == 0 for d in delivered)
        await batches.aclose()

        # Every item acked, so the packed message was: nothing comes again.
        consumer = Consumer(broker, spec, prefetch=10)
        try:
            assert await consumer.nothing_within(QUIET_S)
        finally:
            await consumer.stop()
    finally:
        await batches.aclose()
        await _cleanup(broker, spec)


@bounded(60)
async def test_concurrent_publishes_are_packed_by_routing_key_and_mandatory_flag(
    amqp_url: str,
) -> None:
    suffix = uuid.uuid4().hex[:10]
    broker = _broker(amqp_url, suffix)
    spec = QueueSpec(f"packed.{suffix}", ("k", "j"))
    await broker.declare(spec)
    consumer: Consumer | None = None
    try:
        k1, k2, k3, k4, k5 = _messages("k", 5, "k")
        (j1,) = _messages("j", 1, "j")
        async with _observer(amqp_url, f"fitboard.test.{suffix}", ["k", "j"]) as observer:
            # Gathered in one task, they reach the group commit in the same turn: one write.
            await asyncio.gather(
                broker.publish(k1),
                broker.publish(j1),
                broker.publish(k2),
                broker.publish(k3, mandatory=False),
                broker.publish(k4),
                broker.publish(k5, mandatory=False),
            )
            stored = await _observed(observer)
        # (k, mandatory) packs k1 k2 k4, (k, not mandatory) packs k3 k5, j1 is alone.
        assert sorted((_items(m) or 0) for m in stored) == [0, 2, 3]
        (plain,) = [m for m in stored if _items(m) is None]
        assert plain.body == j1.body
        assert (await broker.depth(spec)).ready == 3

        consumer = Consumer(broker, spec, prefetch=10)
        delivered = [d.message for d in await _next_n(consumer, 6)]
        assert sorted(delivered, key=lambda m: m.message_id) == [j1, k1, k2, k3, k4, k5]
        # Each packed message's items come in their publish order.
        assert [m for m in delivered if m in (k1, k2, k4)] == [k1, k2, k4]
        assert [m for m in delivered if m in (k3, k5)] == [k3, k5]
        assert await consumer.nothing_within(QUIET_S)

        # Bound to no queue: the mandatory ones are returned, the others are not, which
        # they would be had either been packed with the other kind.
        nobody = _messages("n", 4, "nobody")
        outcomes = await asyncio.gather(
            broker.publish(nobody[0]),
            broker.publish(nobody[1], mandatory=False),
            broker.publish(nobody[2]),
            broker.publish(nobody[3], mandatory=False),
            return_exceptions=True,
        )
        assert isinstance(outcomes[0], QueueUnavailable)
        assert outcomes[1] is None
        assert isinstance(outcomes[2], QueueUnavailable)
        assert outcomes[3] is None
        # Each item's outcome is its packed message's: all of one publish_many fail.
        returned = await broker.publish_many(_messages("r", 3, "nobody"))
        assert all(isinstance(outcome, QueueUnavailable) for outcome in returned)
    finally:
        if consumer is not None:
            await consumer.stop()
        await _cleanup(broker, spec)


@bounded(60)
async def test_max_items_per_message_caps_a_packed_message(amqp_url: str) -> None:
    suffix = uuid.uuid4().hex[:10]
    broker = _broker(amqp_url, suffix, max_items_per_message=3)
    spec = QueueSpec(f"packed.{suffix}", ("k",))
    await broker.declare(spec)
    consumer: Consumer | None = None
    try:
        messages = _messages("m", 7)
        async with _observer(amqp_url, f"fitboard.test.{suffix}", ["k"]) as observer:
            assert await broker.publish_many(messages) == [None] * 7
            stored = await _observed(observer)
        assert len(stored) == 3
        assert [_items(m) for m in stored[:2]] == [3, 3]
        assert (await broker.depth(spec)).ready == 3
        consumer = Consumer(broker, spec, prefetch=10)
        delivered = await _next_n(consumer, 7)
        assert [d.message for d in delivered] == messages
        for delivery in delivered:
            await delivery.ack()
        assert await consumer.nothing_within(QUIET_S)
    finally:
        if consumer is not None:
            await consumer.stop()
        await _cleanup(broker, spec)


@bounded(60)
async def test_max_items_per_message_of_one_never_packs(amqp_url: str) -> None:
    suffix = uuid.uuid4().hex[:10]
    broker = _broker(amqp_url, suffix, max_items_per_message=1)
    spec = QueueSpec(f"packed.{suffix}", ("k",))
    await broker.declare(spec)
    consumer: Consumer | None = None
    try:
        messages = _messages("m", 10)
        async with _observer(amqp_url, f"fitboard.test.{suffix}", ["k"]) as observer:
            assert await broker.publish_many(messages) == [None] * 10
            stored = await _observed(observer)
        assert [_items(m) for m in stored] == [None] * 10
        assert [m.body for m in stored] == [m.body for m in messages]
        assert (await broker.depth(spec)).ready == 10
        consumer = Consumer(broker, spec, prefetch=10)
        delivered = await _next_n(consumer, 10)
        assert [d.message for d in delivered] == messages
        for delivery in delivered:
            await delivery.ack()
    finally:
        if consumer is not None:
            await consumer.stop()
        await _cleanup(broker, spec)


@bounded(60)
async def test_each_item_is_acked_retried_or_dead_lettered_on_its_own(amqp_url: str) -> None:
    suffix = uuid.uuid4().hex[:10]
    broker = _broker(amqp_url, suffix)
    spec = QueueSpec(f"packed.{suffix}", ("k",), retry_delays_s=(2.0,))
    await broker.declare(spec)
    consumer = Consumer(broker, spec, prefetch=10)
    try:
        a, b, c = _messages("m", 3)
        assert await broker.publish_many([a, b, c]) == [None] * 3
        first_a, first_b, first_c = await _next_n(consumer, 3)
        assert [first_a.message, first_b.message, first_c.message] == [a, b, c]

        await first_a.ack()
        await first_b.retry("try later", 0.1)
        # The retry's copy is b alone, waiting in the retry queue.
        assert (await broker.depth(spec)).retrying == 1
        await first_c.dead_letter("bad input")

        again = await consumer.next(timeout_s=WAIT_S + 2.0)
        assert again.message == b
        assert (again.attempt, again.retries) == (2, 1)
        await again.ack()

        (letter,) = await broker.dead_letters(spec)
        assert letter.message == c
        assert letter.reason == "bad input"
        assert letter.attempts == 1

        # The packed message was acked once its last item was settled: gone with its
        # consumer, it is not delivered again (nor are a, b or c as items of it).
        await consumer.stop()
        consumer = Consumer(broker, spec, prefetch=10)
        assert await consumer.nothing_within(QUIET_S)
        depth = await broker.depth(spec)
        assert (depth.ready, depth.retrying, depth.dead_letters) == (0, 0, 1)
    finally:
        await consumer.stop()
        await _cleanup(broker, spec)


@bounded(90)
async def test_a_multiple_ack_of_a_later_packed_message_leaves_an_earlier_one_unacked(
    amqp_url: str,
) -> None:
    suffix = uuid.uuid4().hex[:10]
    broker = _broker(amqp_url, suffix)
    spec = QueueSpec(f"packed.{suffix}", ("k",))
    await broker.declare(spec)
    batches = broker.consume_batches(spec, prefetch=10, max_batch=10)
    consumer: Consumer | None = None
    try:
        p1 = _messages("p1-", 3)
        p2 = _messages("p2-", 3)
        assert await broker.publish_many(p1) == [None] * 3
        assert await broker.publish_many(p2) == [None] * 3
        assert (await broker.depth(spec)).ready == 2
        delivered = await _take(batches, 6)
        assert [d.message for d in delivered] == p1 + p2

        # P2 is settled whole and P1 but for its last item: P2's AMQP message has the
        # higher delivery tag, and a multiple ack up to it would take P1 with it.
        await broker.ack_many(delivered[3:] + delivered[:2])
        # Gone as a crash would be: P1's last item never settled.
        await batches.aclose()

        consumer = Consumer(broker, spec, prefetch=10)
        again = await _next_n(consumer, 3)
        # P1 comes again, split: each of its items, its acked ones too (at least once).
        assert sorted((d.message for d in again), key=lambda m: m.message_id) == p1
        assert [d.attempt for d in again] == [2, 2, 2]
        for delivery in again[:2]:
            await delivery.ack()
        await consumer.stop()
        # None of P2 comes, and P1's items are single messages now.
        await _alone_again(broker, spec, again[2])
    finally:
        await batches.aclose()
        if consumer is not None:
            await consumer.stop()
        await _cleanup(broker, spec)


@bounded(90)
async def test_a_packed_message_its_consumer_left_unsettled_comes_again_split(
    amqp_url: str,
) -> None:
    suffix = uuid.uuid4().hex[:10]
    broker = _broker(amqp_url, suffix)
    spec = QueueSpec(f"packed.{suffix}", ("k",))
    await broker.declare(spec)
    # The consumer that goes away is another process's: its whole client is closed.
    crashing = _broker(amqp_url, suffix)
    doomed = Consumer(crashing, spec, prefetch=10)
    consumer: Consumer | None = None
    try:
        messages = _messages("m", 4)
        assert await broker.publish_many(messages) == [None] * 4
        held = await _next_n(doomed, 4)
        assert [d.message for d in held] == messages
        await held[0].ack()
        await crashing.close()
        await doomed.stop()

        consumer = Consumer(broker, spec, prefetch=10)
        again = await _next_n(consumer, 4)
        # Every item, the acked one too (at least once), as a single message of its own
        # whose attempt count goes on from the packed message's.
        assert sorted((d.message for d in again), key=lambda m: m.message_id) == messages
        assert [d.attempt for d in again] == [2, 2, 2, 2]
        for delivery in again[:3]:
            await delivery.ack()
        await consumer.stop()
        await _alone_again(broker, spec, again[3])
    finally:
        await doomed.stop()
        if consumer is not None:
            await consumer.stop()
        await crashing.close()
        await _cleanup(broker, spec)


@bounded(90)
async def test_an_item_whose_retry_copy_fails_brings_its_packed_message_back_split(
    amqp_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    suffix = uuid.uuid4().hex[:10]
    broker = _broker(amqp_url, suffix)
    spec = QueueSpec(f"packed.{suffix}", ("k",))
    await broker.declare(spec)
    batches = broker.consume_batches(spec, prefetch=10, max_batch=10)
    try:
        messages = _messages("m", 3)
        assert await broker.publish_many(messages) == [None] * 3
        first, second, third = await _take(batches, 3)

        async def publisher_down(*_: object, **__: object) -> None:
            raise QueueUnavailable("the publishing connection is down (test)")

        monkeypatch.setattr(broker, "_publish_delayed", publisher_down)
        # As a task: whether it returns before or after the others are settled is the
        # adapter's to choose; it must raise either way.
        retrying = asyncio.create_task(first.retry("failed", 0.0))
        await asyncio.sleep(0.1)
        await broker.ack_many([second, third])
        with pytest.raises(QueueUnavailable):
            await retrying
        monkeypatch.undo()

        # The retry's copy does not exist, so the packed message was not acked: it goes
        # back to its queue (within _REQUEUE_MAX_S) and comes again, split.
        again = await _take(batches, 3, timeout_s=WAIT_S + 5.0)
        assert sorted((d.message for d in again), key=lambda m: m.message_id) == messages
        assert [d.attempt for d in again] == [2, 2, 2]
        await broker.ack_many(again[:2])
        await batches.aclose()
        await _alone_again(broker, spec, again[2])
    finally:
        monkeypatch.undo()
        await batches.aclose()
        await _cleanup(broker, spec)


@bounded(60)
async def test_an_item_whose_dead_letter_copy_is_cut_short_brings_its_packed_message_back(
    amqp_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy cut short (the settling task cancelled, as a stopping worker's may be) may
    or may not be with the broker: the packed message is not acked, but comes again."""
    suffix = uuid.uuid4().hex[:10]
    broker = _broker(amqp_url, suffix)
    spec = QueueSpec(f"packed.{suffix}", ("k",))
    await broker.declare(spec)
    batches = broker.consume_batches(spec, prefetch=10, max_batch=10)
    try:
        messages = _messages("m", 2)
        assert await broker.publish_many(messages) == [None] * 2
        first, second = await _take(batches, 2)
        publishing = asyncio.Event()

        async def publisher_hangs(*_: object, **__: object) -> None:
            publishing.set()
            await asyncio.Event().wait()

        monkeypatch.setattr(broker, "_publish_dead_letter", publisher_hangs)
        burying = asyncio.create_task(first.dead_letter("malformed"))
        await publishing.wait()
        burying.cancel()
        with pytest.raises(asyncio.CancelledError):
            await burying
        monkeypatch.undo()
        await broker.ack_many([second])

        again = await _take(batches, 2, timeout_s=WAIT_S + 5.0)
        assert sorted((d.message for d in again), key=lambda m: m.message_id) == messages
        await broker.ack_many(again)
        assert await broker.dead_letters(spec) == []
    finally:
        monkeypatch.undo()
        await batches.aclose()
        await _cleanup(broker, spec)


@bounded(60)
async def test_an_unreadable_packed_message_is_dead_lettered_whole(amqp_url: str) -> None:
    suffix = uuid.uuid4().hex[:10]
    exchange = f"fitboard.test.{suffix}"
    broker = _broker(amqp_url, suffix)
    spec = QueueSpec(f"packed.{suffix}", ("k",))
    await broker.declare(spec)
    consumer = Consumer(broker, spec, prefetch=10)
    connection = await aio_pika.connect(amqp_url)
    try:
        # Says it packs three items, but its body is no packing at all.
        channel = await connection.channel(publisher_confirms=True)
        topic = await channel.get_exchange(exchange)
        await topic.publish(
            aio_pika.Message(
                b"\x00\xffnot a packed body",
                headers={H_ITEMS: 3},
                message_id="garbled",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key="k",
        )
        (good,) = _messages("good", 1)
        await broker.publish(good)

        # The consumer goes on past it to the next message.
        delivered = await consumer.next()
        assert delivered.message == good
        await delivered.ack()
        assert await consumer.nothing_within(QUIET_S)

        (letter,) = await broker.dead_letters(spec)
        assert "unreadable" in letter.reason
        assert (await broker.depth(spec)).dead_letters == 1
    finally:
        await connection.close()
        await consumer.stop()
        await _cleanup(broker, spec)


@bounded(60)
async def test_a_packed_message_the_broker_dead_lettered_is_listed_and_replayed_by_item(
    amqp_url: str,
) -> None:
    """The broker dead-letters a packed message itself when it reaches the queue's
    delivery limit (consumers that died before splitting it): the listing shows each of
    its messages, and a replay of some of them replays those and leaves the others as
    single dead letters."""
    suffix = uuid.uuid4().hex[:10]
    exchange = f"fitboard.test.{suffix}"
    broker = _broker(amqp_url, suffix)
    spec = QueueSpec(f"packed.{suffix}", ("k",))
    await broker.declare(spec)
    packed = _messages("dead", 3)
    connection = await aio_pika.connect(amqp_url)
    consumer = Consumer(broker, spec, prefetch=10)
    try:
        # As the broker dead-letters it: into the dead-letter exchange, with x-death.
        channel = await connection.channel(publisher_confirms=True)
        dlx = await channel.get_exchange(f"{exchange}.dlx")
        await dlx.publish(
            aio_pika.Message(
                pack(packed),
                headers={
                    H_ITEMS: 3,
                    "x-fitboard-routing-key": "k",
                    "x-death": [{"reason": "delivery_limit", "queue": spec.name}],
                },
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=spec.name,
        )
        listed = await broker.dead_letters(spec)
        assert [letter.message for letter in listed] == packed
        assert all("without ack" in letter.reason for letter in listed)

        assert await broker.replay_dead_letters(spec, [packed[1].message_id]) == 1
        replayed = await consumer.next()
        assert replayed.message == packed[1]
        await replayed.ack()
        assert await consumer.nothing_within(QUIET_S)
        left = await broker.dead_letters(spec)
        assert sorted(letter.message.message_id for letter in left) == ["dead0", "dead2"]
        assert all("without ack" in letter.reason for letter in left)

        assert await broker.replay_dead_letters(spec) == 2
        again = [await consumer.next() for _ in range(2)]
        assert sorted(d.message.message_id for d in again) == ["dead0", "dead2"]
        for delivery in again:
            await delivery.ack()
        assert await broker.dead_letters(spec) == []
    finally:
        await connection.close()
        await consumer.stop()
        await _cleanup(broker, spec)


@bounded(60)
async def test_a_packed_message_an_earlier_release_dead_lettered_is_listed_and_replayed(
    amqp_url: str,
) -> None:
    """A consumer of an earlier release takes a packed message for one malformed workout
    and dead-letters it with its id (`packed:<first id>+<more>`) but without the header
    that counts its messages: it is listed, and replayed, as the messages it packs."""
    suffix = uuid.uuid4().hex[:10]
    exchange = f"fitboard.test.{suffix}"
    broker = _broker(amqp_url, suffix)
    spec = QueueSpec(f"packed.{suffix}", ("k",))
    await broker.declare(spec)
    packed = _messages("old", 3)
    connection = await aio_pika.connect(amqp_url)
    consumer = Consumer(broker, spec, prefetch=10)
    try:
        channel = await connection.channel(publisher_confirms=True)
        dlx = await channel.get_exchange(f"{exchange}.dlx")
        await dlx.publish(
            aio_pika.Message(
                pack(packed),
                headers={
                    "x-fitboard-message-id": "packed:old0+2",
                    "x-fitboard-routing-key": "k",
                    "x-fitboard-reason": "malformed workout message",
                    "x-fitboard-attempts": 1,
                },
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=spec.name,
        )
        listed = await broker.dead_letters(spec)
        assert [letter.message for letter in listed] == packed
        assert {letter.reason for letter in listed} == {"malformed workout message"}

        assert await broker.replay_dead_letters(spec) == 3
        again = [await consumer.next() for _ in range(3)]
        assert sorted((d.message for d in again), key=lambda m: m.message_id) == packed
        for delivery in again:
            await delivery.ack()
        assert await broker.dead_letters(spec) == []
    finally:
        await connection.close()
        await consumer.stop()
        await _cleanup(broker, spec)


@bounded(60)
async def test_an_unreadable_packed_dead_letter_is_kept_by_a_replay(amqp_url: str) -> None:
    """A packed message dead-lettered as unreadable keeps its count: a replay leaves it
    where it is (it would only be dead-lettered again), and it stays listed."""
    suffix = uuid.uuid4().hex[:10]
    exchange = f"fitboard.test.{suffix}"
    broker = _broker(amqp_url, suffix)
    spec = QueueSpec(f"packed.{suffix}", ("k",))
    await broker.declare(spec)
    consumer = Consumer(broker, spec, prefetch=10)
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        topic = await channel.get_exchange(exchange)
        await topic.publish(
            aio_pika.Message(
                b"\x00\xffnot a packed body",
                headers={H_ITEMS: 3},
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key="k",
        )
        (good,) = _messages("good", 1)
        await broker.publish(good)
        delivered = await consumer.next()
        assert delivered.message == good
        await delivered.ack()
        (letter,) = await broker.dead_letters(spec)
        assert "unreadable" in letter.reason

        assert await broker.replay_dead_letters(spec) == 0
        assert await consumer.nothing_within(QUIET_S)
        (still,) = await broker.dead_letters(spec)
        assert "unreadable" in still.reason
    finally:
        await connection.close()
        await consumer.stop()
        await _cleanup(broker, spec)
