"""A RabbitMQ consumer's `prefetch` bounds deliveries (the port's items), whatever the
packing: RabbitMQ's prefetch counts AMQP messages, one of which may pack up to
`max_items_per_message` items, so the consumer fits its count of AMQP messages to the items
they carry, and re-subscribes (cancel, qos, consume on the same channel) to change it.

What these tests hold the adapter to (`queue_rabbitmq._Session`):
- the count starts at ceil(prefetch / max_items_per_message) and the consumer holds no more
  of the broker's messages than its count; a full consumer of packed messages holds about
  `prefetch` items (at most twice it);
- the session never holds more than `prefetch` of the broker's messages;
- a consumer fitted to single messages takes at most its count of packed ones, then shrinks
  to the fitting count, and one fitted to packed messages grows back on single ones;
- a re-subscribe loses, repeats and puts back nothing: every delivery, taken before or
  after it, is handed out once (attempt 1: none went back to the queue) and settles on its
  channel (acks of several of the session's consumers in one multiple ack included);
- a session that re-subscribed and lost its connection is followed by one that starts at
  the start count again, and what it held comes again, as after any lost connection.

Counts come from what reached the test's consumer and from the broker (`rabbitmqctl
list_consumers` for the live consumer's prefetch count, `list_queues` for what it holds
unacked; the latter is a gauge a quorum queue refreshes every few seconds, hence the bounded
polls). On the session's node, each test on queues of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import aio_pika
import pytest

from fitboard.adapters.queue_rabbitmq import RabbitBroker
from fitboard.application.messaging.ports import Delivery, Message, QueueSpec
from tests.services.running import eventually
from tests.services.session import SERVICES

from ..contract.queue_adapters import bounded

pytestmark = pytest.mark.production

ADAPTER_LOG = "fitboard.adapters.queue_rabbitmq"
ITEMS_PER_MESSAGE = 100
PREFETCH = 200
# The count a consumer of PREFETCH items starts at: what fits if every message is full.
START_COUNT = -(-PREFETCH // ITEMS_PER_MESSAGE)
# Long enough for a stray delivery (one more packed message taken, one redelivered) to
# arrive on the session's node.
QUIET_S = 2.0
# Bound of a poll for the broker's view: a quorum queue's gauges are refreshed every 5 s.
BROKER_VIEW_S = 30.0


@dataclass
class Rig:
    """A broker packing up to ITEMS_PER_MESSAGE, one that never packs (to put single
    messages on the queue fast), the queue, and the ids of what was published."""

    broker: RabbitBroker
    singles: RabbitBroker
    spec: QueueSpec
    published: list[str] = field(default_factory=list)

    async def publish_packed(self, name: str, count: int, items: int = ITEMS_PER_MESSAGE) -> None:
        """`count` AMQP messages of `items` messages each, named `<name><n>-<i>`, in order."""
        for n in range(count):
            messages = [_message(f"{name}{n}-{i}") for i in range(items)]
            assert await self.broker.publish_many(messages) == [None] * items
            self.published += [m.message_id for m in messages]

    async def publish_singles(self, name: str, count: int) -> None:
        """`count` single AMQP messages, named `<name><n>`, in order."""
        messages = [_message(f"{name}{n}") for n in range(count)]
        assert await self.singles.publish_many(messages) == [None] * count
        self.published += [m.message_id for m in messages]


def _message(message_id: str) -> Message:
    return Message("k", message_id.encode(), message_id)


def _amqp_message(delivery: Delivery) -> str:
    """Which AMQP message a delivery came in: the message id up to `-` for packed ones."""
    return delivery.message.message_id.split("-")[0]


@contextlib.asynccontextmanager
async def _rig(amqp_url: str) -> AsyncIterator[Rig]:
    suffix = uuid.uuid4().hex[:10]
    exchange = f"fitboard.test.{suffix}"
    broker = RabbitBroker(amqp_url, exchange=exchange, max_items_per_message=ITEMS_PER_MESSAGE)
    singles = RabbitBroker(amqp_url, exchange=exchange, max_items_per_message=1)
    spec = QueueSpec(f"prefetch.{suffix}", ("k",))
    await broker.declare(spec)
    try:
        yield Rig(broker, singles, spec)
    finally:
        await singles.close()
        await broker.delete(spec)
        await broker.delete_exchanges()
        await broker.close()


class Taker:
    """Takes batches of `consume_batches` from a task of its own into `taken`, settling
    them as `settle` says (by default not at all) before it takes the next."""

    def __init__(
        self,
        broker: RabbitBroker,
        spec: QueueSpec,
        *,
        max_batch: int = 50,
        settle: Callable[[Sequence[Delivery]], Awaitable[None]] | None = None,
    ) -> None:
        self.taken: list[Delivery] = []
        self._batches = broker.consume_batches(spec, PREFETCH, max_batch)
        self._settle = settle
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for batch in self._batches:
            self.taken += batch
            if self._settle is not None:
                await self._settle(batch)

    async def until(self, condition: Callable[[], bool], what: str, within_s: float = 20) -> None:
        """Wait until `condition()` holds (the taker failing fails the wait)."""
        try:
            async with asyncio.timeout(within_s):
                while not condition():
                    if self._task.done():
                        self._task.result()
                        raise AssertionError(f"the consumer stopped before {what}")
                    await asyncio.sleep(0.02)
        except TimeoutError:
            raise AssertionError(
                f"not {what} within {within_s}s ({len(self.taken)} deliveries taken)"
            ) from None

    async def quiet(self) -> int:
        """How many more deliveries arrive within QUIET_S."""
        before = len(self.taken)
        await asyncio.sleep(QUIET_S)
        return len(self.taken) - before

    async def stop(self) -> None:
        """Go away without settling what is held (the broker takes it back)."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._batches.aclose()


async def _ctl(*args: str) -> list[list[str]]:
    output = await SERVICES.rabbitmq.ctl(
        *args, "-p", SERVICES.amqp_vhost, "--quiet", "--no-table-headers"
    )
    return [line.split("\t") for line in output.splitlines() if line.strip()]


async def _prefetch_counts(spec: QueueSpec) -> list[int]:
    """The prefetch count of each consumer of the queue (a cancelled one is not listed)."""
    rows = await _ctl("list_consumers", "queue_name", "prefetch_count")
    return [int(count) for name, count in rows if name == spec.name]


async def _queue_counts(spec: QueueSpec) -> tuple[int, int]:
    """(ready, unacknowledged) AMQP messages of the queue, as the broker last counted."""
    rows = await _ctl("list_queues", "name", "messages_ready", "messages_unacknowledged")
    (row,) = [(int(ready), int(unacked)) for name, ready, unacked in rows if name == spec.name]
    return row


async def _broker_says(
    probe: Callable[[], Awaitable[object]], expected: object, within_s: float = BROKER_VIEW_S
) -> None:
    """Poll the broker until `probe()` gives `expected`; fail with the last answer."""
    answers: list[object] = [None]

    async def says() -> bool:
        answers.append(await probe())
        return answers[-1] == expected

    try:
        await eventually(says, within_s=within_s, every_s=0.5)
    except TimeoutError:
        raise AssertionError(f"the broker says {answers[-1]!r}, not {expected!r}") from None


def _acking_singles(broker: RabbitBroker) -> Callable[[Sequence[Delivery]], Awaitable[None]]:
    """Ack what came as single messages; hold the items of packed ones."""

    async def settle(batch: Sequence[Delivery]) -> None:
        singles = [d for d in batch if "-" not in d.message.message_id]
        if singles:
            await broker.ack_many(singles)

    return settle


def _refits(caplog: pytest.LogCaptureFixture) -> list[tuple[int, int]]:
    """The re-subscribes the adapter logged: (count before, count after)."""
    refits: list[tuple[int, int]] = []
    for record in caplog.records:
        if record.name == ADAPTER_LOG and "refits its prefetch" in str(record.msg):
            assert isinstance(record.args, tuple)
            _, before, after, *_ = record.args
            assert isinstance(before, int)
            assert isinstance(after, int)
            refits.append((before, after))
    return refits


@bounded(120)
async def test_a_consumer_of_packed_messages_holds_about_its_prefetch_in_items(
    amqp_url: str,
) -> None:
    """Ten packed messages of 100 on the queue; a consumer of 200 items that settles
    nothing takes two of them: 200 items, where a prefetch counted in AMQP messages would
    have taken all ten (1,000 items)."""
    async with _rig(amqp_url) as rig:
        await rig.publish_packed("p", 10)
        taker = Taker(rig.broker, rig.spec)
        try:
            await taker.until(lambda: len(taker.taken) >= START_COUNT * 100, "it took 200")
            assert await taker.quiet() == 0
            held = {_amqp_message(d) for d in taker.taken}
            # Within the bound: its count of AMQP messages, about `prefetch` items.
            assert len(taker.taken) <= 2 * PREFETCH
            assert len(held) == START_COUNT
            assert await _prefetch_counts(rig.spec) == [START_COUNT]
            # The broker counts what reached the consumer, and nothing more, as unacked.
            await _broker_says(lambda: _queue_counts(rig.spec), (10 - len(held), len(held)))
            # Settled, they make room for as many more.
            await rig.broker.ack_many(taker.taken)
            await taker.until(lambda: len(taker.taken) >= 400, "it took 200 more")
            assert await taker.quiet() == 0
            assert len({_amqp_message(d) for d in taker.taken}) == 2 * START_COUNT
        finally:
            await taker.stop()


@bounded(120)
async def test_a_consumer_that_settles_nothing_never_holds_more_than_its_prefetch(
    amqp_url: str,
) -> None:
    """300 single messages; a consumer of 200 that settles nothing grows while it holds
    what it took (2, 8, 32, 128 messages), each new count fitting within 200 with what
    it holds, the last one only the room left: it holds 200, never more. Settled, they
    make room for the rest."""
    async with _rig(amqp_url) as rig:
        await rig.publish_singles("s", 300)
        taker = Taker(rig.broker, rig.spec)
        try:
            await taker.until(lambda: len(taker.taken) >= PREFETCH, "it took 200")
            assert await taker.quiet() == 0
            assert len(taker.taken) == PREFETCH
            await _broker_says(lambda: _queue_counts(rig.spec), (100, PREFETCH))

            await rig.broker.ack_many(taker.taken)
            await taker.until(lambda: len(taker.taken) == 300, "it took the rest")
            await rig.broker.ack_many(taker.taken[PREFETCH:])
            assert await taker.quiet() == 0
            assert sorted(d.message.message_id for d in taker.taken) == sorted(rig.published)
            await _broker_says(lambda: _queue_counts(rig.spec), (0, 0))
        finally:
            await taker.stop()


@bounded(180)
async def test_a_consumer_fitted_to_single_messages_shrinks_once_it_is_full_of_packed_ones(
    amqp_url: str,
) -> None:
    """Single messages first: the consumer grows to its 200 items in single messages. Then
    300 packed messages: idle with room for 200 messages, it takes 200 of them at once
    (the bound on a consumer fitted to smaller messages: its count), is full, and shrinks
    to 2; it consumes again once it has room for those 2 within 200 messages (so not
    while it holds the 200), then takes 2 at a time."""
    async with _rig(amqp_url) as rig:
        await rig.publish_singles("s", 1000)
        taker = Taker(rig.broker, rig.spec, settle=_acking_singles(rig.broker))
        try:
            await taker.until(lambda: len(taker.taken) == 1000, "it took the singles")
            # Grown (fourfold at most a step) while full of single messages.
            await _broker_says(lambda: _prefetch_counts(rig.spec), [PREFETCH])

            await rig.publish_packed("p", 300)
            await taker.until(lambda: len(taker.taken) - 1000 >= PREFETCH * 100, "packed ones")
            assert await taker.quiet() == 0
            packed = taker.taken[1000:]
            assert len({_amqp_message(d) for d in packed}) == PREFETCH
            # Cancelled, and not consuming again while it holds its 200 messages.
            assert await _prefetch_counts(rig.spec) == []
            await _broker_says(lambda: _queue_counts(rig.spec), (100, PREFETCH))

            await rig.broker.ack_many(packed)
            wanted = (PREFETCH + START_COUNT) * 100
            await taker.until(lambda: len(taker.taken) - 1000 >= wanted, "2 more")
            assert await taker.quiet() == 0
            assert len({_amqp_message(d) for d in taker.taken[1000:]}) == PREFETCH + START_COUNT
            assert await _prefetch_counts(rig.spec) == [START_COUNT]
            await _broker_says(lambda: _queue_counts(rig.spec), (98, START_COUNT))
        finally:
            await taker.stop()


async def _drain(rig: Rig, taker: Taker) -> list[Delivery]:
    """With `taker` consuming, wait until every published message was handed out; then
    check that nothing more comes and that the queue is empty. Stops `taker`."""
    try:
        await taker.until(lambda: len(taker.taken) >= len(rig.published), "all", within_s=60)
        assert await taker.quiet() == 0
        await _broker_says(lambda: _queue_counts(rig.spec), (0, 0))
        assert (await rig.broker.depth(rig.spec)).ready == 0
        return taker.taken
    finally:
        await taker.stop()


def _handed_out_once(rig: Rig, taken: Sequence[Delivery]) -> None:
    ids = [d.message.message_id for d in taken]
    assert sorted(ids) == sorted(rig.published)
    assert len(set(ids)) == len(ids)
    # None came back to the queue (put back by a cancel, or redelivered and split).
    assert {(d.attempt, d.retries) for d in taken} == {(1, 0)}


@bounded(240)
async def test_a_backlog_of_single_then_packed_messages_drains_each_item_once(
    amqp_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """1,500 single messages, 60 packed, 300 single. The consumer grows on the first ones,
    acking every batch; from the first packed item on it holds what it takes until the
    consumer has shrunk, then acks that and every batch after. Held, the consumer fills
    up (60 packed and 140 single messages) and is seen full; acking every batch it may
    never be, and a refit that does not see it full within `_FILL_WAIT_S` is dropped (a
    loaded node once dropped every one). Each item is handed out once."""
    caplog.set_level(logging.DEBUG, logger=ADAPTER_LOG)

    def shrunk() -> bool:
        return any(after < before for before, after in _refits(caplog))

    held: list[Delivery] = []

    async def settle(batch: Sequence[Delivery]) -> None:
        packed = any("-" in d.message.message_id for d in batch)
        if not shrunk() and (held or packed):
            held.extend(batch)
        else:
            await rig.broker.ack_many(batch)

    async with _rig(amqp_url) as rig:
        await rig.publish_singles("s", 1500)
        await rig.publish_packed("p", 60)
        await rig.publish_singles("t", 300)
        taker = Taker(rig.broker, rig.spec, max_batch=50, settle=settle)
        try:
            await taker.until(shrunk, "it shrank")
        except BaseException:
            await taker.stop()
            raise
        if held:
            await rig.broker.ack_many(held)
        taken = await _drain(rig, taker)
        _handed_out_once(rig, taken)
        # It grew on the single messages first.
        assert _refits(caplog)[0] == (START_COUNT, 4 * START_COUNT)


@bounded(240)
async def test_a_backlog_of_packed_then_single_messages_drains_each_item_once(
    amqp_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=ADAPTER_LOG)
    async with _rig(amqp_url) as rig:
        await rig.publish_packed("p", 60)
        await rig.publish_singles("s", 3000)
        # Acking every batch.
        taken = await _drain(
            rig, Taker(rig.broker, rig.spec, max_batch=50, settle=rig.broker.ack_many)
        )
        _handed_out_once(rig, taken)
        # Fitted to the packed messages from the start, it grew on the single ones only.
        refits = _refits(caplog)
        assert refits
        assert all(after > before for before, after in refits)


@bounded(120)
async def test_deliveries_held_across_re_subscribes_are_settled_on_their_channel(
    amqp_url: str,
) -> None:
    """What a consumer held when it re-subscribed (twice) is settled afterwards: one of the
    first consumer's on its own, the later deliveries in one `ack_many`, which must not
    cover the first consumer's packed message tagged below them and unsettled, then that
    one's items, acked and retried. Nothing is lost (the retried one comes back), the
    queue ends empty and nothing else comes again."""
    async with _rig(amqp_url) as rig:
        # One packed message of three, then single ones: full at 2 messages of 4 items,
        # the consumer grows to 8 (fourfold at most), full again at 8 singles, to 32.
        await rig.publish_packed("p", 1, items=3)
        await rig.publish_singles("s", 40)
        taker = Taker(rig.broker, rig.spec)
        try:
            await taker.until(lambda: len(taker.taken) == 43, "it took everything")
            assert await taker.quiet() == 0
            # Re-subscribed while holding all it had taken: the live consumer is the third.
            assert await _prefetch_counts(rig.spec) == [32]
            by_id = {d.message.message_id: d for d in taker.taken}
            assert {d.attempt for d in taker.taken} == {1}

            # The first's single message acked on its own.
            await by_id["s0"].ack()
            # Then what the second and third consumers took, with one item of the packed
            # message the first took: that packed message, tagged below them all, is
            # still unsettled, and the broker still holds it: the acks covered no more.
            later = [by_id["p0-2"], *(by_id[f"s{n}"] for n in range(1, 40))]
            await rig.broker.ack_many(later)
            await _broker_says(lambda: _queue_counts(rig.spec), (0, 1))
            # Then its other items: one acked, one retried (its copy comes back), which
            # acks it.
            await by_id["p0-1"].ack()
            await by_id["p0-0"].retry("again", 0.5, counted=False)

            await taker.until(lambda: len(taker.taken) == 44, "the retried one came back")
            again = taker.taken[-1]
            assert (again.message.message_id, again.attempt, again.retries) == ("p0-0", 1, 1)
            await again.ack()
            assert await taker.quiet() == 0
            # Nothing left unacked while the consumer is still connected: every tag was
            # settled on its channel, whichever consumer of the session it came to.
            await _broker_says(lambda: _queue_counts(rig.spec), (0, 0))
        finally:
            await taker.stop()


async def _close_consumer_connection(spec: QueueSpec) -> None:
    """Have the broker close the connection of the queue's consumer, as a lost one."""
    (channel,) = [
        pid
        for name, pid in await _ctl("list_consumers", "queue_name", "channel_pid")
        if name == spec.name
    ]
    (connection,) = [
        conn for pid, conn in await _ctl("list_channels", "pid", "connection") if pid == channel
    ]
    await SERVICES.rabbitmq.ctl("close_connection", connection, "closed by the test")


@bounded(120)
async def test_a_consumer_that_re_subscribed_starts_over_when_its_connection_is_lost(
    amqp_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A session that re-subscribed (twice) loses its connection holding everything: the
    next session starts at the start count again, and every message comes again once
    (one attempt on; the packed one split into its messages)."""
    caplog.set_level(logging.DEBUG, logger=ADAPTER_LOG)
    async with _rig(amqp_url) as rig:
        await rig.publish_packed("p", 1, items=3)
        await rig.publish_singles("s", 40)
        taker = Taker(rig.broker, rig.spec)
        try:
            await taker.until(lambda: len(taker.taken) == 43, "it took everything")
            assert await _prefetch_counts(rig.spec) == [32]
            assert _refits(caplog) == [(START_COUNT, 8), (8, 32)]

            await _close_consumer_connection(rig.spec)
            await taker.until(lambda: len(taker.taken) == 86, "everything came again", 30)
            again = taker.taken[43:]
            assert sorted(d.message.message_id for d in again) == sorted(rig.published)
            assert {d.attempt for d in again} == {2}
            # The new session started over from the start count.
            assert _refits(caplog)[2][0] == START_COUNT
            await rig.broker.ack_many(again)
            assert await taker.quiet() == 0
            await _broker_says(lambda: _queue_counts(rig.spec), (0, 0))
        finally:
            await taker.stop()


@bounded(120)
async def test_a_settle_made_as_a_re_subscribe_cancels_waits_for_the_cancel_ok(
    amqp_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The consumer is full (a packed message and a single one) and due to grow (the
    single one came when the other packed message was settled); the last item of the
    packed message it holds is acked just as the re-subscribe is about to send its cancel
    (aio-pika's Queue.cancel, patched, lets the ack's task run first). Sent before the
    cancel, that ack would give the consumer room and the broker a message to dispatch to
    it, which RabbitMQ puts back on the queue when the cancel comes, counted (it would
    come again as attempt 2); held until the cancel is answered, it gives the cancelled
    consumer no room, and every message comes once."""
    caplog.set_level(logging.DEBUG, logger=ADAPTER_LOG)
    cancelling = asyncio.Event()
    cancel = aio_pika.Queue.cancel

    async def cancel_after_others(self: aio_pika.Queue, consumer_tag: str) -> object:
        cancelling.set()
        for _ in range(10):
            await asyncio.sleep(0)
        return await cancel(self, consumer_tag)

    monkeypatch.setattr(aio_pika.Queue, "cancel", cancel_after_others)
    async with _rig(amqp_url) as rig:
        await rig.publish_packed("p", 2)
        await rig.publish_singles("s", 20)
        batches = rig.broker.consume_batches(rig.spec, PREFETCH, 100)
        try:
            first = await asyncio.wait_for(anext(batches), 10)
            second = await asyncio.wait_for(anext(batches), 10)
            assert [_amqp_message(d) for d in first + second] == ["p0"] * 100 + ["p1"] * 100
            # Room for one more: s0 comes, and the consumer is full again.
            await rig.broker.ack_many(first)
            await rig.broker.ack_many(second[:-1])
            await _broker_says(lambda: _queue_counts(rig.spec), (19, 2))
            assert _refits(caplog) == []

            async def ack_as_it_cancels() -> None:
                await cancelling.wait()
                await rig.broker.ack_many(second[-1:])

            # The next batch begins with the re-subscribe.
            async with asyncio.timeout(10):
                taken, _ = await asyncio.gather(anext(batches), ack_as_it_cancels())
            # Fitted to 3: the latest 3 messages carried 201 items.
            assert _refits(caplog)[0] == (START_COUNT, 3)
            await rig.broker.ack_many(taken)
            while len(taken) < 20:
                batch = await asyncio.wait_for(anext(batches), 10)
                taken += batch
                await rig.broker.ack_many(batch)
            assert sorted(d.message.message_id for d in taken) == sorted(f"s{n}" for n in range(20))
            assert {d.attempt for d in taken} == {1}
            await _broker_says(lambda: _queue_counts(rig.spec), (0, 0))
        finally:
            await batches.aclose()
