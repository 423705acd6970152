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
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, HeadersType

from fitboard.adapters.amqp_packing import pack
from fitboard.adapters.queue_rabbitmq import RabbitBroker
from fitboard.application.messaging.ports import RETRY_DELAYS_S, Delivery, Message, QueueSpec
from fitboard.application.ports import QueueUnavailable

from ..contract.queue_adapters import WAIT_S, Consumer, bounded

pytestmark = pytest.mark.production

H_ITEMS = "x-fitboard-items"
# Long enough for a stray delivery (a packed message acked too early or twice, an item
# left behind by a split) to arrive on the session's node.
QUIET_S = 2.0


def _broker(amqp_url: str, exchange: str, max_items_per_message: int = 100) -> RabbitBroker:
    return RabbitBroker(
        amqp_url,
        exchange=exchange,
        confirm_timeout_s=5.0,
        max_items_per_message=max_items_per_message,
    )


class _Rig:
    """One test's broker and queue, and whatever the test opens on them: each consumer,
    batch stream and client is stopped or closed when the test ends, however it ends,
    before the queue and exchanges are deleted."""

    def __init__(
        self,
        amqp_url: str,
        exchange: str,
        broker: RabbitBroker,
        spec: QueueSpec,
        cleanups: contextlib.AsyncExitStack,
    ) -> None:
        self.broker = broker
        self.spec = spec
        self._amqp_url = amqp_url
        self._exchange = exchange
        self._cleanups = cleanups

    def client(self) -> RabbitBroker:
        """Another client of the same exchange: another process, as the queue sees it."""
        client = _broker(self._amqp_url, self._exchange)
        self._cleanups.push_async_callback(client.close)
        return client

    def consumer(self, broker: RabbitBroker | None = None) -> Consumer:
        """A consumer of the queue, through `broker` (the rig's own by default)."""
        consumer = Consumer(broker or self.broker, self.spec, prefetch=10)
        self._cleanups.push_async_callback(consumer.stop)
        return consumer

    def batches(self, max_batch: int) -> AsyncGenerator[list[Delivery], None]:
        """The queue's deliveries in batches of up to `max_batch`; consuming starts at the
        first batch asked for."""
        batches = self.broker.consume_batches(self.spec, prefetch=10, max_batch=max_batch)
        self._cleanups.push_async_callback(batches.aclose)
        return batches

    @contextlib.asynccontextmanager
    async def observer(self) -> AsyncIterator[AbstractQueue]:
        """A queue of its own bound to the exchange with the queue's bindings: it receives
        a copy of every AMQP message published with them, to look at as the broker stores
        them."""
        connection = await aio_pika.connect(self._amqp_url)
        try:
            channel = await connection.channel()
            queue = await channel.declare_queue(exclusive=True)
            for key in self.spec.bindings:
                await queue.bind(self._exchange, routing_key=key)
            yield queue
        finally:
            await connection.close()

    async def publish_raw(
        self,
        body: bytes,
        headers: HeadersType,
        *,
        message_id: str | None = None,
        dead_lettered: bool = False,
    ) -> None:
        """Publish an AMQP message past the adapter, as another client (or release) might:
        to the exchange with routing key "k", or, `dead_lettered`, to the dead-letter
        exchange with the queue's name, as the broker dead-letters a message itself."""
        connection = await aio_pika.connect(self._amqp_url)
        try:
            channel = await connection.channel(publisher_confirms=True)
            if dead_lettered:
                exchange = await channel.get_exchange(f"{self._exchange}.dlx")
                routing_key = self.spec.name
            else:
                exchange = await channel.get_exchange(self._exchange)
                routing_key = "k"
            message = aio_pika.Message(
                body,
                headers=headers,
                message_id=message_id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            await exchange.publish(message, routing_key=routing_key)
        finally:
            await connection.close()


@contextlib.asynccontextmanager
async def _packed_queue(
    amqp_url: str,
    *,
    bindings: tuple[str, ...] = ("k",),
    max_items_per_message: int = 100,
    retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S,
) -> AsyncIterator[_Rig]:
    """A queue declared on an exchange, both with names no other test uses, and a broker
    that packs up to `max_items_per_message` messages in one AMQP message."""
    suffix = uuid.uuid4().hex[:10]
    exchange = f"fitboard.test.{suffix}"
    broker = _broker(amqp_url, exchange, max_items_per_message)
    spec = QueueSpec(f"packed.{suffix}", bindings, retry_delays_s=retry_delays_s)
    async with contextlib.AsyncExitStack() as cleanups:
        # Run last to first: the queues, then the exchanges, then the client go.
        cleanups.push_async_callback(broker.close)
        cleanups.push_async_callback(broker.delete_exchanges)
        cleanups.push_async_callback(broker.delete, spec)
        await broker.declare(spec)
        yield _Rig(amqp_url, exchange, broker, spec, cleanups)


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


async def _publish_observed(rig: _Rig, messages: list[Message]) -> list[AbstractIncomingMessage]:
    """Publish `messages` in one `publish_many`, every one confirmed; the AMQP messages
    the broker stored for them, as an observer's copies."""
    async with rig.observer() as observer:
        assert await rig.broker.publish_many(messages) == [None] * len(messages)
        return await _observed(observer)


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


def _by_id(deliveries: Sequence[Delivery]) -> list[Message]:
    """The messages delivered, sorted by id: for deliveries whose order the adapter does
    not promise."""
    return sorted((d.message for d in deliveries), key=lambda m: m.message_id)


async def _alone_again(rig: _Rig, left: Delivery) -> None:
    """`left` was not settled, its consumer is gone, and the others delivered with it were
    acked: it comes again alone, one attempt on, if it is a single message (split); a
    packed message would bring back its settled items with it."""
    consumer = rig.consumer()
    again = await consumer.next()
    assert again.message == left.message
    assert again.attempt == left.attempt + 1
    await again.ack()
    assert await consumer.nothing_within(QUIET_S)
    await consumer.stop()


async def _comes_again_split(rig: _Rig, messages: list[Message]) -> None:
    """The packed message of `messages`, delivered once and left unsettled by a consumer
    now gone, comes again split: each of its messages, those settled before too (at
    least once), on its second attempt; once all but the last are acked, the last comes
    again alone (`_alone_again`)."""
    consumer = rig.consumer()
    again = await _next_n(consumer, len(messages))
    assert _by_id(again) == messages
    assert [d.attempt for d in again] == [2] * len(messages)
    for delivery in again[:-1]:
        await delivery.ack()
    await consumer.stop()
    await _alone_again(rig, again[-1])


async def _publish_unreadable_then_good(
    rig: _Rig, consumer: Consumer, *, message_id: str | None
) -> None:
    """A packed message that says it packs three items but whose body is no packing at
    all, then a good message: the consumer goes on past the first to the second."""
    await rig.publish_raw(b"\x00\xffnot a packed body", {H_ITEMS: 3}, message_id=message_id)
    (good,) = _messages("good", 1)
    await rig.broker.publish(good)
    delivered = await consumer.next()
    assert delivered.message == good
    await delivered.ack()


@bounded(60)
async def test_one_publish_many_is_one_amqp_message_handed_out_item_by_item(
    amqp_url: str,
) -> None:
    async with _packed_queue(amqp_url) as rig:
        broker, spec = rig.broker, rig.spec
        batches = rig.batches(max_batch=4)
        messages = _messages("m", 10)
        (stored,) = await _publish_observed(rig, messages)
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
        assert await rig.consumer().nothing_within(QUIET_S)


@bounded(60)
async def test_concurrent_publishes_are_packed_by_routing_key_and_mandatory_flag(
    amqp_url: str,
) -> None:
    async with _packed_queue(amqp_url, bindings=("k", "j")) as rig:
        broker, spec = rig.broker, rig.spec
        k1, k2, k3, k4, k5 = _messages("k", 5, "k")
        (j1,) = _messages("j", 1, "j")
        async with rig.observer() as observer:
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

        consumer = rig.consumer()
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


@bounded(60)
async def test_max_items_per_message_caps_a_packed_message(amqp_url: str) -> None:
    async with _packed_queue(amqp_url, max_items_per_message=3) as rig:
        messages = _messages("m", 7)
        stored = await _publish_observed(rig, messages)
        assert len(stored) == 3
        assert [_items(m) for m in stored[:2]] == [3, 3]
        assert (await rig.broker.depth(rig.spec)).ready == 3

        consumer = rig.consumer()
        delivered = await _next_n(consumer, 7)
        assert [d.message for d in delivered] == messages
        for delivery in delivered:
            await delivery.ack()
        assert await consumer.nothing_within(QUIET_S)


@bounded(60)
async def test_max_items_per_message_of_one_never_packs(amqp_url: str) -> None:
    async with _packed_queue(amqp_url, max_items_per_message=1) as rig:
        messages = _messages("m", 10)
        stored = await _publish_observed(rig, messages)
        assert [_items(m) for m in stored] == [None] * 10
        assert [m.body for m in stored] == [m.body for m in messages]
        assert (await rig.broker.depth(rig.spec)).ready == 10

        delivered = await _next_n(rig.consumer(), 10)
        assert [d.message for d in delivered] == messages
        for delivery in delivered:
            await delivery.ack()


@bounded(60)
async def test_each_item_is_acked_retried_or_dead_lettered_on_its_own(amqp_url: str) -> None:
    async with _packed_queue(amqp_url, retry_delays_s=(2.0,)) as rig:
        broker, spec = rig.broker, rig.spec
        consumer = rig.consumer()
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
        assert await rig.consumer().nothing_within(QUIET_S)
        depth = await broker.depth(spec)
        assert (depth.ready, depth.retrying, depth.dead_letters) == (0, 0, 1)


@bounded(90)
async def test_a_multiple_ack_of_a_later_packed_message_leaves_an_earlier_one_unacked(
    amqp_url: str,
) -> None:
    async with _packed_queue(amqp_url) as rig:
        broker = rig.broker
        batches = rig.batches(max_batch=10)
        p1 = _messages("p1-", 3)
        p2 = _messages("p2-", 3)
        assert await broker.publish_many(p1) == [None] * 3
        assert await broker.publish_many(p2) == [None] * 3
        assert (await broker.depth(rig.spec)).ready == 2
        delivered = await _take(batches, 6)
        assert [d.message for d in delivered] == p1 + p2

        # P2 is settled whole and P1 but for its last item: P2's AMQP message has the
        # higher delivery tag, and a multiple ack up to it would take P1 with it.
        await broker.ack_many(delivered[3:] + delivered[:2])
        # Gone as a crash would be: P1's last item never settled.
        await batches.aclose()

        # P1 comes again, split, and none of P2 does.
        await _comes_again_split(rig, p1)


@bounded(90)
async def test_a_packed_message_its_consumer_left_unsettled_comes_again_split(
    amqp_url: str,
) -> None:
    async with _packed_queue(amqp_url) as rig:
        # The consumer that goes away is another process's: its whole client is closed.
        crashing = rig.client()
        doomed = rig.consumer(crashing)
        messages = _messages("m", 4)
        assert await rig.broker.publish_many(messages) == [None] * 4
        held = await _next_n(doomed, 4)
        assert [d.message for d in held] == messages
        await held[0].ack()
        await crashing.close()
        await doomed.stop()

        # Every item, the acked one too, as a single message of its own whose attempt
        # count goes on from the packed message's.
        await _comes_again_split(rig, messages)


@bounded(90)
async def test_an_item_whose_retry_copy_fails_brings_its_packed_message_back_split(
    amqp_url: str,
) -> None:
    async with _packed_queue(amqp_url) as rig:
        broker = rig.broker
        batches = rig.batches(max_batch=10)
        messages = _messages("m", 3)
        assert await broker.publish_many(messages) == [None] * 3
        first, second, third = await _take(batches, 3)

        async def publisher_down(*_: object, **__: object) -> None:
            raise QueueUnavailable("the publishing connection is down (test)")

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(broker, "_publish_delayed", publisher_down)
            # As a task: whether it returns before or after the others are settled is the
            # adapter's to choose; it must raise either way.
            retrying = asyncio.create_task(first.retry("failed", 0.0))
            await asyncio.sleep(0.1)
            await broker.ack_many([second, third])
            with pytest.raises(QueueUnavailable):
                await retrying

        # The retry's copy does not exist, so the packed message was not acked: it goes
        # back to its queue (within _REQUEUE_MAX_S) and comes again, split.
        again = await _take(batches, 3, timeout_s=WAIT_S + 5.0)
        assert _by_id(again) == messages
        assert [d.attempt for d in again] == [2, 2, 2]
        await broker.ack_many(again[:2])
        await batches.aclose()
        await _alone_again(rig, again[2])


@bounded(60)
async def test_an_item_whose_dead_letter_copy_is_cut_short_brings_its_packed_message_back(
    amqp_url: str,
) -> None:
    """A copy cut short (the settling task cancelled, as a stopping worker's may be) may
    or may not be with the broker: the packed message is not acked, but comes again."""
    async with _packed_queue(amqp_url) as rig:
        broker = rig.broker
        batches = rig.batches(max_batch=10)
        messages = _messages("m", 2)
        assert await broker.publish_many(messages) == [None] * 2
        first, second = await _take(batches, 2)
        publishing = asyncio.Event()

        async def publisher_hangs(*_: object, **__: object) -> None:
            publishing.set()
            await asyncio.Event().wait()

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(broker, "_publish_dead_letter", publisher_hangs)
            burying = asyncio.create_task(first.dead_letter("malformed"))
            await publishing.wait()
            burying.cancel()
            with pytest.raises(asyncio.CancelledError):
                await burying
        await broker.ack_many([second])

        again = await _take(batches, 2, timeout_s=WAIT_S + 5.0)
        assert _by_id(again) == messages
        await broker.ack_many(again)
        assert await broker.dead_letters(rig.spec) == []


@bounded(60)
async def test_an_unreadable_packed_message_is_dead_lettered_whole(amqp_url: str) -> None:
    async with _packed_queue(amqp_url) as rig:
        consumer = rig.consumer()
        await _publish_unreadable_then_good(rig, consumer, message_id="garbled")
        assert await consumer.nothing_within(QUIET_S)

        (letter,) = await rig.broker.dead_letters(rig.spec)
        assert "unreadable" in letter.reason
        assert (await rig.broker.depth(rig.spec)).dead_letters == 1


@bounded(60)
async def test_a_packed_message_the_broker_dead_lettered_is_listed_and_replayed_by_item(
    amqp_url: str,
) -> None:
    """The broker dead-letters a packed message itself when it reaches the queue's
    delivery limit (consumers that died before splitting it): the listing shows each of
    its messages, and a replay of some of them replays those and leaves the others as
    single dead letters."""
    async with _packed_queue(amqp_url) as rig:
        broker, spec = rig.broker, rig.spec
        packed = _messages("dead", 3)
        # As the broker dead-letters it: into the dead-letter exchange, with x-death.
        await rig.publish_raw(
            pack(packed),
            {
                H_ITEMS: 3,
                "x-fitboard-routing-key": "k",
                "x-death": [{"reason": "delivery_limit", "queue": spec.name}],
            },
            dead_lettered=True,
        )
        listed = await broker.dead_letters(spec)
        assert [letter.message for letter in listed] == packed
        assert all("without ack" in letter.reason for letter in listed)

        consumer = rig.consumer()
        assert await broker.replay_dead_letters(spec, [packed[1].message_id]) == 1
        replayed = await consumer.next()
        assert replayed.message == packed[1]
        await replayed.ack()
        assert await consumer.nothing_within(QUIET_S)
        left = await broker.dead_letters(spec)
        assert sorted(letter.message.message_id for letter in left) == ["dead0", "dead2"]
        assert all("without ack" in letter.reason for letter in left)

        assert await broker.replay_dead_letters(spec) == 2
        again = await _next_n(consumer, 2)
        assert sorted(d.message.message_id for d in again) == ["dead0", "dead2"]
        for delivery in again:
            await delivery.ack()
        assert await broker.dead_letters(spec) == []


@bounded(60)
async def test_a_packed_message_an_earlier_release_dead_lettered_is_listed_and_replayed(
    amqp_url: str,
) -> None:
    """A consumer of an earlier release takes a packed message for one malformed workout
    and dead-letters it with its id (`packed:<first id>+<more>`) but without the header
    that counts its messages: it is listed, and replayed, as the messages it packs."""
    async with _packed_queue(amqp_url) as rig:
        broker, spec = rig.broker, rig.spec
        packed = _messages("old", 3)
        await rig.publish_raw(
            pack(packed),
            {
                "x-fitboard-message-id": "packed:old0+2",
                "x-fitboard-routing-key": "k",
                "x-fitboard-reason": "malformed workout message",
                "x-fitboard-attempts": 1,
            },
            dead_lettered=True,
        )
        listed = await broker.dead_letters(spec)
        assert [letter.message for letter in listed] == packed
        assert {letter.reason for letter in listed} == {"malformed workout message"}

        assert await broker.replay_dead_letters(spec) == 3
        again = await _next_n(rig.consumer(), 3)
        assert _by_id(again) == packed
        for delivery in again:
            await delivery.ack()
        assert await broker.dead_letters(spec) == []


@bounded(60)
async def test_an_unreadable_packed_dead_letter_is_kept_by_a_replay(amqp_url: str) -> None:
    """A packed message dead-lettered as unreadable keeps its count: a replay leaves it
    where it is (it would only be dead-lettered again), and it stays listed."""
    async with _packed_queue(amqp_url) as rig:
        consumer = rig.consumer()
        await _publish_unreadable_then_good(rig, consumer, message_id=None)
        (letter,) = await rig.broker.dead_letters(rig.spec)
        assert "unreadable" in letter.reason

        assert await rig.broker.replay_dead_letters(rig.spec) == 0
        assert await consumer.nothing_within(QUIET_S)
        (still,) = await rig.broker.dead_letters(rig.spec)
        assert "unreadable" in still.reason
