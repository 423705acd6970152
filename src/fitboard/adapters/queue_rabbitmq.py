"""The production queue: the `MessageBroker` port on RabbitMQ with aio-pika.

Topology, for an exchange `fitboard` and a `QueueSpec` named `q`:

- `fitboard` — durable topic exchange every message is published to.
- `q` — quorum queue bound to `fitboard` with the spec's keys. Its dead-letter exchange
  is `fitboard.dlx` (routing key `q`) with at-least-once dead-lettering, and its
  `x-delivery-limit` is `max_attempts`, so a message that keeps killing its consumer
  reaches the dead letters through the broker even if no consumer survives it.
- `q.dlq` — quorum queue bound to `fitboard.dlx` with key `q`: the dead letters.
- `q.p<i>` — a partition of `q` (`application.messaging.partitions`), for a broker made
  with `partitions` > 1: a quorum queue bound to each of `q`'s keys suffixed `.p<i>`, to
  which a message with a `partition_key` is published (its own routing key kept in its
  headers, so its consumer reads it unchanged). It dead-letters to `q.dlq`, and its
  retries wait in `q`'s retry queues and come back to `q`.
- `q.retry.<ms>ms` — one quorum queue per step of `QueueSpec.retry_delays_s`, declared
  with `q` and permanent: no `x-expires`, so a queue that holds a waiting message is never
  deleted under it (on RabbitMQ 3.10, the Debian package, an expiry counts from the
  queue's creation and redeclaring does not renew it: a self-deleting delay queue once
  took its messages with it). Each has its step as queue TTL and `q` as dead-letter
  target through the default exchange, dead-lettering at least once. A queue-wide TTL
  rather than per-message expiration because RabbitMQ only expires messages at the head
  of a queue: one long delay would hold back every short one behind it.

No quorum queue sets `x-quorum-initial-group-size`: RabbitMQ then gives it a member on
every node of the cluster (one on a single node), which on three nodes survives the loss
of any one. Queues are declared when a process starts: a node added to a cluster later
holds no member of queues declared before it (`rabbitmq-queues grow` adds them).

Attempt counting: `Delivery.attempt` = the attempts spent before the message was last
published (header `x-fitboard-attempts`, set by `retry`: a counted retry adds this
attempt, an uncounted one does not) + the quorum queue's `x-delivery-count` (returns
after crashes and lost connections) + 1. `Delivery.retries` is the header
`x-fitboard-retries`, one more on every retry. A message packed with others
(`amqp_packing`) has its packed message's attempt (1: one delivered again is split, not
handed out) and no retries yet; a split carries the attempts spent into each message's
`x-fitboard-attempts`.

Group commit: `publish` calls made together in one process are published back to back
on the confirming channel and their confirms awaited together (`adapters.group_commit`),
each caller answered by its own message's confirm; `publish_many` is one such group.

Connections: publishing uses aio-pika's robust connection on a channel with publisher
confirms, every publish bounded by `confirm_timeout_s` (while the broker is down or
blocked the robust channel waits for the reconnection forever, aio-pika issue #636, so
the bound is what turns an outage into `QueueUnavailable`). Each `consume` owns a plain
connection and reconnects by itself: robust consumers are known not to resume after
some failures (aio-pika issues #231, #563 and #334, a consumer cancelled by the broker),
and a consumer on its own connection keeps acking while the broker blocks publishers.

Several nodes (`amqp_nodes`): every connection goes to the first node of the list that
accepts it, starting past the node the process last lost. The publishing connection,
given up as soon as its node is lost rather than left to reconnect to it, is opened again
on the next node by the next publish; a consumer whose connection is lost opens its next
session on the next node. A publishing channel the broker nacked a message on is replaced
(`_renew_refusing_channel`). With one node, the robust connection reconnects to it as
before.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import enum
import itertools
import logging
import re
import uuid
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Mapping,
    Sequence,
)
from datetime import UTC, datetime
from typing import Any, TypeVar

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
    DeliveryMode,
    ExchangeType,
)
from aio_pika.exceptions import (
    CONNECTION_EXCEPTIONS,
    ChannelNotFoundEntity,
    DeliveryError,
    PublishError,
)
from aiormq.abc import ChannelFrame
from pamqp.header import ContentHeader

from fitboard.adapters.amqp_nodes import AmqpNodes
from fitboard.adapters.amqp_packing import H_ITEMS, PackedUnreadable, pack, unpack
from fitboard.adapters.deliveries import one_by_one
from fitboard.adapters.group_commit import GroupCommit, publish_through
from fitboard.application.messaging.partitions import partition_of, partition_routing_key
from fitboard.application.messaging.ports import (
    BATCH_LINGER_S,
    DeadLetter,
    Delivery,
    Message,
    QueueDepth,
    QueueSpec,
)
from fitboard.application.ports import QueueUnavailable

__all__ = ["RabbitBroker"]

T = TypeVar("T")

log = logging.getLogger(__name__)

H_MESSAGE_ID = "x-fitboard-message-id"
H_ATTEMPTS = "x-fitboard-attempts"
H_REASON = "x-fitboard-reason"
H_FAILED_AT = "x-fitboard-failed-at"
H_ROUTING_KEY = "x-fitboard-routing-key"
H_LAST_ERROR = "x-fitboard-last-error"
H_RETRIES = "x-fitboard-retries"

# Headers the broker or this adapter add; everything else belongs to the message.
_SYSTEM_PREFIXES = ("x-fitboard-", "x-death", "x-first-death-", "x-last-death-")
_SYSTEM_HEADERS = {"x-delivery-count"}

_RECONNECT_MIN_S = 0.5
_RECONNECT_MAX_S = 5.0
# Longest a delivery that could not be settled is held before it goes back to its queue.
_REQUEUE_MAX_S = 5.0


def _unavailable(text: str, cause: BaseException) -> QueueUnavailable:
    error = QueueUnavailable(text)
    error.__cause__ = cause
    return error


def _user_headers(headers: Mapping[str, Any]) -> dict[str, str]:
    return {
        key: value.decode() if isinstance(value, bytes) else str(value)
        for key, value in headers.items()
        if key not in _SYSTEM_HEADERS and not key.startswith(_SYSTEM_PREFIXES)
    }


def _int_header(headers: Mapping[str, Any], name: str) -> int:
    value = headers.get(name)
    if isinstance(value, bytes):
        value = value.decode()
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):
        return 0


# The message id `_packed` gives a packed message: its first message's id and how many
# more it packs. A consumer of an earlier release that dead-lettered one (as a malformed
# workout) kept its id and dropped its `x-fitboard-items` header.
_PACKED_ID = re.compile(r"packed:.*\+(\d+)", re.DOTALL)


class _Packing(enum.Enum):
    """What an AMQP message is: a single message, or a packed one read or unreadable."""

    SINGLE = enum.auto()
    READ = enum.auto()
    UNREADABLE = enum.auto()


def _packed_count(headers: Mapping[str, Any], message: Message) -> int:
    """How many messages an AMQP message packs, from its header or else its id; 0 for a
    single message."""
    count = _int_header(headers, H_ITEMS)
    if count > 0:
        return count
    named = _PACKED_ID.fullmatch(message.message_id)
    return int(named.group(1)) + 1 if named else 0


def _str_header(headers: Mapping[str, Any], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _to_message(incoming: AbstractIncomingMessage) -> Message:
    headers = incoming.headers or {}
    message_id = _str_header(headers, H_MESSAGE_ID) or incoming.message_id or ""
    routing_key = _str_header(headers, H_ROUTING_KEY) or incoming.routing_key or ""
    return Message(
        routing_key=routing_key,
        body=incoming.body,
        message_id=message_id,
        headers=_user_headers(headers),
    )


def retry_queue_name(spec: QueueSpec, step_s: float) -> str:
    """The permanent queue where a message retried with a wait of `step_s` waits: its
    home queue's (a partition's retries are its parent's)."""
    return f"{spec.home}.retry.{round(step_s * 1000)}ms"


def _routed(message: Message, partitions: int) -> str:
    """The routing key `message` is published with to the exchange: its own, or, split in
    `partitions`, its partition's (`partitions.partition_routing_key`)."""
    if partitions < 2 or message.partition_key is None:
        return message.routing_key
    return partition_routing_key(
        message.routing_key, partition_of(message.partition_key, partitions)
    )


class _Wake:
    """What `_Session` puts in its inbox to have the consumer look again whether it may
    consume (`_Session.resume_if_room`): the inbox is what the consumer waits on."""


_WAKE = _Wake()

# What a consumer session's inbox holds: deliveries, wake-ups, and None for "reconnect".
_Inbox = asyncio.Queue[AbstractIncomingMessage | _Wake | None]


def _waker(inbox: _Inbox) -> Callable[..., None]:
    """A callback that ends a consumer session: None in its inbox means "reconnect"."""

    def wake(*_: Any) -> None:
        inbox.put_nowait(None)

    return wake


async def _ready(
    inbox: _Inbox, deadline: float
) -> tuple[bool, AbstractIncomingMessage | _Wake | None]:
    """(True, the inbox's next item) if there is one by `deadline` (loop time), else
    (False, None). Cancelling a queue's get loses no item."""
    if not inbox.empty():
        return True, inbox.get_nowait()
    remaining = deadline - asyncio.get_running_loop().time()
    if remaining <= 0:
        return False, None
    try:
        async with asyncio.timeout(remaining):
            return True, await inbox.get()
    except TimeoutError:
        return False, None


def _refused(error: DeliveryError) -> bool:
    """Whether the broker nacked the message (refused to store it), rather than returned it
    as unroutable (aiormq raises a return as PublishError, a nack as DeliveryError)."""
    return not isinstance(error, PublishError)


def _own_delivery(delivery: Delivery) -> _RabbitDelivery:
    if not isinstance(delivery, _RabbitDelivery):
        raise TypeError(f"not a delivery of this broker: {delivery!r}")
    return delivery


async def _uninterrupted(step: Coroutine[Any, Any, T]) -> T:
    """Run `step` to its end even if the caller is cancelled meanwhile; then the caller
    gets the cancellation.

    aio-pika and aiormq do not take a cancellation in the middle of a call to the broker
    well. On Python 3.11 one can be absorbed: the call returns as if never cancelled (seen
    in `declare` and in `connect`, whose `asyncio.wait_for` returns a result that arrived
    together with the cancellation), and a consumer stopped during its set-up then waits
    for deliveries for good. One that interrupts a channel's call makes aiormq close that
    channel out of turn, which the broker answers by closing the whole connection: the
    shared publishing one, under another consumer's declare. Shielded, the step ends as it
    would have, and the cancellation is raised here, where nothing can swallow it."""
    task = asyncio.ensure_future(step)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        # Whatever the step did is undone by the caller's cleanup; its failure, if it
        # failed, matters less than the cancellation.
        with contextlib.suppress(Exception):
            await task
        raise


# A suffix of the AMQP message id that no other publish of this process has: aiormq matches
# a returned (unroutable) message to its publish by message id, so two publishes of one
# workout id in flight at once must not share it. A counter rather than a random UUID a
# publish: the suffix only has to be unique on this process's channels.
_PUBLISH_SUFFIXES = itertools.count()
_PROCESS_TAG = uuid.uuid4().hex[:8]


def _properties(
    message: Message,
    timestamp: datetime,
    extra_headers: Mapping[str, Any] | None = None,
) -> aiormq.spec.Basic.Properties:
    headers: dict[str, Any] = dict(message.headers)
    headers[H_MESSAGE_ID] = message.message_id
    headers[H_ROUTING_KEY] = message.routing_key
    if extra_headers:
        headers.update(extra_headers)
    return aiormq.spec.Basic.Properties(
        headers=headers,
        delivery_mode=DeliveryMode.PERSISTENT.value,
        message_id=f"{message.message_id}:{_PROCESS_TAG}-{next(_PUBLISH_SUFFIXES):x}",
        timestamp=timestamp,
    )


def _amqp_message(
    message: Message, extra_headers: Mapping[str, Any] | None = None
) -> aio_pika.Message:
    properties = _properties(message, datetime.now(UTC), extra_headers)
    return aio_pika.Message(
        body=message.body,
        headers=properties.headers,
        delivery_mode=DeliveryMode.PERSISTENT,
        message_id=properties.message_id,
        timestamp=properties.timestamp,
    )


async def _publish_together(
    channel: aiormq.Channel,
    exchange: str,
    publishes: Sequence[tuple[Message, bool]],
    timestamp: datetime,
    *,
    to_queue: str | None = None,
    extra_headers: Mapping[str, Any] | None = None,
    partitions: int = 1,
) -> list[asyncio.Future[Any]]:
    """Publish a group's messages on `channel` as one write and answer their confirmation
    futures, one per message in order: each resolves as aiormq's `basic_publish` would
    (the broker's ack; PublishError when returned unroutable, DeliveryError when nacked,
    the channel's close reason when it closes first). With `to_queue`, each goes to that
    queue (through the default exchange, `exchange` ""), its routing key kept in its
    headers; else each goes with its routing key, or its partition's of `partitions`
    (`_routed`). `extra_headers` are added to each one's.

    aiormq's `basic_publish` queues one write for the connection's writer per message:
    one socket write (a system call) and the encoding of three frames each, taken in
    turn, which was the largest part of the API's CPU for a batch of workouts. This does
    what `basic_publish` does under the channel's lock for every message of the group
    (the next delivery tags, their confirmation futures, the message ids a return is
    matched by) and hands the writer all their frames at once. If the frames could not
    be handed over (cancelled, channel closed), nothing of the group was sent: its
    delivery tags and futures are taken back, as `basic_publish` does for one."""
    loop = asyncio.get_running_loop()
    # Each message encoded on its own, so one that cannot be (a routing key too long)
    # fails alone, as it would in its own `basic_publish`, and takes no delivery tag.
    encoded: list[tuple[str, bytes] | BaseException] = []
    for message, mandatory in publishes:
        try:
            properties = _properties(message, timestamp, extra_headers)
            frames: list[Any] = [
                aiormq.spec.Basic.Publish(
                    exchange=exchange,
                    routing_key=to_queue or _routed(message, partitions),
                    mandatory=mandatory,
                ),
                ContentHeader(properties=properties, body_size=len(message.body)),
                *channel._split_body(message.body),
            ]
            payload = ChannelFrame.marshall(channel_number=channel.number, frames=frames).payload
        except Exception as exc:
            encoded.append(exc)
            continue
        assert properties.message_id is not None  # _properties names every message
        encoded.append((properties.message_id, payload))
    answers: list[asyncio.Future[Any]] = []
    numbered: list[tuple[str, int, asyncio.Future[Any]]] = []
    async with channel.lock:
        first_tag = channel.delivery_tag
        try:
            payloads: list[bytes] = []
            for item in encoded:
                if isinstance(item, BaseException):
                    failed: asyncio.Future[Any] = loop.create_future()
                    failed.set_exception(item)
                    answers.append(failed)
                    continue
                message_id, payload = item
                channel.delivery_tag += 1
                confirmation = channel.create_future()
                channel.confirmations[channel.delivery_tag] = confirmation
                channel.message_id_delivery_tag[message_id] = channel.delivery_tag
                answers.append(confirmation)
                numbered.append((message_id, channel.delivery_tag, confirmation))
                payloads.append(payload)
            if payloads:
                await channel.write_queue.put(
                    ChannelFrame(payload=b"".join(payloads), should_close=False)
                )
        except BaseException:
            for message_id, tag, confirmation in numbered:
                channel.confirmations.pop(tag, None)
                if channel.message_id_delivery_tag.get(message_id) == tag:
                    channel.message_id_delivery_tag.pop(message_id)
                confirmation.cancel()
            channel.delivery_tag = first_tag
            raise
    for message_id, tag, confirmation in numbered:
        confirmation.add_done_callback(_forgetting(channel, message_id, tag))
    return answers


def _packed(
    items: Sequence[tuple[Message, bool]], most: int, partitions: int = 1
) -> tuple[list[tuple[Message, bool]], list[list[int]]]:
    """What to publish for `items`: the messages that go one way (routing key, partition
    of `partitions` and `mandatory`), in their order, packed up to `most` to an AMQP
    message (`amqp_packing`; one alone as it is); and for each publish, the indices of
    the items it holds."""
    ways: dict[tuple[str, bool], list[int]] = {}
    for index, (message, mandatory) in enumerate(items):
        ways.setdefault((_routed(message, partitions), mandatory), []).append(index)
    publishes: list[tuple[Message, bool]] = []
    held: list[list[int]] = []
    for (_, mandatory), indices in ways.items():
        for start in range(0, len(indices), most):
            chunk = indices[start : start + most]
            if len(chunk) == 1:
                publishes.append(items[chunk[0]])
            else:
                messages = [items[i][0] for i in chunk]
                first = messages[0]
                name = f"packed:{first.message_id}+{len(chunk) - 1}"
                packed = Message(
                    first.routing_key,
                    pack(messages),
                    name,
                    {H_ITEMS: str(len(chunk))},
                    # The same partition as each message it packs.
                    partition_key=first.partition_key,
                )
                publishes.append((packed, mandatory))
            held.append(chunk)
    return publishes, held


def _forgetting(channel: aiormq.Channel, message_id: str, tag: int) -> Callable[[Any], None]:
    """Once a publish is settled its message id no longer names it (as in aiormq)."""

    def forget(_: Any) -> None:
        if channel.message_id_delivery_tag.get(message_id) == tag:
            channel.message_id_delivery_tag.pop(message_id)

    return forget


# How a consumer's count of the broker's messages is fitted to `prefetch` items
# (`_Session`). Each figure was tried on a simulation of the fitting (the consumer taking
# messages up to its count, settling one at a time) against streams of single and packed
# (100 items) messages at a prefetch of 500:
# - The fit reads the latest messages that add up to `_FIT_OVER` times `prefetch` items:
#   enough of them that a mix does not make it waver past the thresholds. With a tenth
#   of the messages packed, a window of `prefetch` items (about 46 messages) made 311
#   refits in 20,000 messages, one of 4 times that (about 180 messages) 14. When the
#   queue turns to packed messages wholesale, they fill the window at once all the same.
# - Shrunk when the fitting count is at most half the count: short of that, the consumer
#   holds up to about twice `prefetch` items.
# - Grown when the fitting count is at least 1.5 times the count (and the consumer fills
#   its count: one that does not is not held back by it). Growing at 2, a consumer back
#   on single messages after packed ones grew as the window forgot those and stopped at
#   327 of 500, for good.
# - Grown `_MOST_GROWTH`-fold at most a time: a new consumer's credit is sent all at
#   once, so a count grown on a few small messages would let the broker send that many
#   full ones in one go if the queue holds those next (five single messages, then packed
#   ones: a count of 20 taken, not 500).
_FIT_OVER = 4
_SHRINK_AT = 2.0
_GROW_AT = 1.5
_MOST_GROWTH = 4
# The longest a refit holds settles back waiting for the consumer to fill its count: the
# time for the settles already sent to reach the queue's leader and the messages they
# make room for to come back (milliseconds; tens on a loaded node). One that does not
# fill in that time is not held back by its count (the queue has no more for it now).
_FILL_WAIT_S = 0.1
# The longest a refit waits, before it consumes again, for the session to have room for
# the new count within `prefetch` messages; then it consumes with the room there is. Long
# enough for a worker to settle the batches it holds (each in tens to hundreds of ms);
# short, for a caller holding deliveries while it waits for more, as the port lets it.
_ROOM_WAIT_S = 1.0


class _Session:
    """One consumer session: a channel on a connection of its own, its consumer, and the
    deliveries it holds.

    The port's `prefetch` counts items (deliveries); RabbitMQ's counts AMQP messages, and
    one may pack up to the publisher's `max_items_per_message` items (`amqp_packing`). So
    the consumer's prefetch count is fitted to the items its messages carry: it starts at
    what fits if every message is as full as this process packs its own (the deployment's
    FITBOARD_QUEUE_ITEMS_PER_MESSAGE), and when the count that fits the latest messages
    (`fitting`) is off far enough and the consumer holds its whole count, it subscribes
    again with the fitting count (`begin_refit`, `refit`).

    What that bounds: the session never holds more than `prefetch` of the broker's
    messages (delivered, no settle sent), so never more than `prefetch` deliveries of
    single messages; and at least one message, whatever it packs. While the packing stays
    alike, a full consumer holds from about two thirds of `prefetch` items to twice it
    (the refit thresholds). When the queue turns from smaller messages to fuller ones, a
    consumer takes as many fuller ones as its settles free room for until it is full
    again and shrinks, and a consumer just grown takes its whole count at once: up to its
    count of them, `_MOST_GROWTH` times the count it grew from at most.

    A new prefetch count needs a new consumer: RabbitMQ applies basic.qos (global=false)
    to consumers started after it only, and a quorum queue has no prefetch per channel
    (global=true is refused). So a refit cancels the consumer, sets the new count and
    consumes again, on the same channel: what was delivered stays valid (delivery tags
    are the channel's), is handed out from the same inbox and settled on this channel,
    and a multiple ack covers tags of any consumer of the channel (RabbitMQ's channel
    settles by delivery tag alone). On a quorum queue (RabbitMQ 3.10's `rabbit_fifo`) the
    cancelled consumer keeps what it was delivered until that is settled and gets no
    credit back from those settles, while the new consumer's credit is its own whole
    count: so a refit consumes again only once the session holds few enough for the new
    count to fit within `prefetch` messages (`resume_if_room`), or, after `_ROOM_WAIT_S`,
    with the room there is. Meanwhile the consumer hands out and settles what it holds.

    A refit is made only while the consumer is full: it holds its whole count, no settle
    of them sent, so the broker has no credit for it and nothing in flight to it. So a
    refit holds settles back (`settling`) until the cancel is answered, and first waits
    up to `_FILL_WAIT_S` for the consumer to fill up: a consumer that settles as fast as
    it is sent messages is seldom full at any one moment, though its count is what holds
    it back. One that does not fill is not held back by its count (the queue has no more
    for it now): the refit is dropped, and not tried again before the consumer has
    received another count's worth of messages or is full. Cancelled with credit left,
    the messages the broker dispatched to the consumer before it applied the cancel but
    the channel had not yet sent are put back on the queue by RabbitMQ (3.10's
    `rabbit_fifo_client:handle_delivery` for an unknown consumer), counted in their
    x-delivery-count: an attempt spent for each, a packed one split when it comes again.
    Measured on RabbitMQ 3.10.8 (a node started as the tests start theirs): acking a full
    consumer's 100 messages and cancelling at once had all 100 that the ack's credit let
    through come back with x-delivery-count 1; cancelling it full, none. A consumer that
    must shrink becomes full as soon as the broker has more for it.
    """

    def __init__(
        self,
        channel: AbstractChannel,
        queue: AbstractQueue,
        inbox: _Inbox,
        prefetch: int,
        fullest: int,
        timeout_s: float,
    ) -> None:
        self.channel = channel
        self.queue = queue
        self.inbox = inbox
        self.prefetch = prefetch
        self._timeout_s = timeout_s
        # The delivery tags handed out whose settle the broker has not been sent yet (no
        # ack, no reject): a multiple ack must not cover one of them.
        self.unsettled: set[int] = set()
        # The broker's messages the session holds: delivered, no settle sent yet.
        self.held = 0
        # The current consumer ("" between a refit's cancel and its consume), its prefetch
        # count (between the two, the count to consume with), and how many of the
        # session's messages it holds. Not fuller than every message full, to start with.
        self.tag = ""
        self.count = max(1, -(-prefetch // fullest))
        self._held_by_consumer = 0
        # The items of the latest messages the session received, newest last: as few as
        # add up to `_FIT_OVER` times `prefetch` items (all, while they add up to fewer).
        self._latest: collections.deque[int] = collections.deque()
        self._latest_items = 0
        self._window = _FIT_OVER * prefetch
        # Set while the current consumer holds its whole count.
        self._full = asyncio.Event()
        # Messages received by the session, and how many it must have received before a
        # refit is tried again after one was dropped (the consumer did not fill), unless
        # it is full by then.
        self._received = 0
        self._next_try = 0
        # Cleared while a refit is on its way: settles wait (see `settling`).
        self._settles_open = asyncio.Event()
        self._settles_open.set()
        # Between a cancel and its consume: whether `_ROOM_WAIT_S` is over (any room will
        # do), its timer, and whether a wake-up is in the inbox already.
        self._waited_for_room = False
        self._room_timer: asyncio.TimerHandle | None = None
        self._woken = False

    async def subscribe(self, count: int) -> None:
        """Consume with a prefetch count of `count`, as a consumer of a tag of our own:
        known before the broker can deliver under it, so that every delivery is counted
        against the consumer it came to (`_arrived`)."""
        tag = f"fitboard.{uuid.uuid4().hex}"
        self.tag, self.count, self._held_by_consumer = tag, count, 0
        self._full.clear()
        await self.channel.set_qos(prefetch_count=count)
        await self.queue.consume(self._arrived, no_ack=False, consumer_tag=tag)

    async def _arrived(self, incoming: AbstractIncomingMessage) -> None:
        self.held += 1
        if incoming.consumer_tag == self.tag:
            self._held_by_consumer += 1
            if self._held_by_consumer >= self.count:
                self._full.set()
        self._received += 1
        # Counted as its header says (an old release's packed message, named only by its
        # id, counts as one: the fit is an estimate).
        items = max(1, _int_header(incoming.headers or {}, H_ITEMS))
        self._latest.append(items)
        self._latest_items += items
        while self._latest_items - self._latest[0] >= self._window:
            self._latest_items -= self._latest.popleft()
        self.inbox.put_nowait(incoming)

    def fitting(self) -> int:
        """The prefetch count that carries about `prefetch` items at the mean of the latest
        messages' items: `prefetch` over that mean, rounded up; at least 1, and at most
        `prefetch` (every message carries an item)."""
        if not self._latest:
            return self.count
        fitting = -(-self.prefetch * len(self._latest) // self._latest_items)
        return max(1, min(self.prefetch, fitting))

    def begin_refit(self) -> int | None:
        """The count to subscribe again with, when the fitting count is at most
        1/`_SHRINK_AT` of the consumer's count (then that) or at least `_GROW_AT` times it
        (then that, or `_MOST_GROWTH` times the count if less); else None (and while a
        refit waits for room). With a count, settles wait from this moment (no await
        between the look and the wait) until `refit`, to be called next, is through."""
        waited = self._received < self._next_try and not self._full.is_set()
        if not self.tag or waited or self.channel.is_closed:
            return None
        fitting = self.fitting()
        if _SHRINK_AT * fitting <= self.count:
            count = fitting
        elif fitting >= _GROW_AT * self.count:
            count = min(fitting, _MOST_GROWTH * self.count)
        else:
            return None
        self._settles_open.clear()
        return count

    async def refit(self, count: int) -> None:
        """Once the consumer is full, cancel it, and consume again with a prefetch count of
        `count` when there is room (`resume_if_room`); or, if it does not fill within
        `_FILL_WAIT_S`, leave it be (see the class). Within the broker client's bound;
        one the broker does not answer in time fails with TimeoutError (and aiormq closes
        the channel), which ends the session as a lost connection does."""
        old = self.tag
        # Settles not sent yet wait (since `begin_refit`) for the cancel-ok: one sent
        # before the cancel would give the consumer credit, and the broker would put
        # back what it dispatched on it.
        try:
            try:
                async with asyncio.timeout(_FILL_WAIT_S):
                    await self._full.wait()
            except TimeoutError:
                self._next_try = self._received + self.count
                return
            log.debug(
                "consumer of %s refits its prefetch: %d -> %d messages (%d items in the latest %d)",
                self.queue.name,
                self.count,
                count,
                self._latest_items,
                len(self._latest),
            )
            async with asyncio.timeout(self._timeout_s):
                underlay = await self.channel.get_underlay_channel()
                assert isinstance(underlay, aiormq.Channel)
                callback = underlay.consumers.get(old)
                # Not nowait: aiormq forgets the tag only at the cancel-ok, so what the
                # broker delivered before it (nothing, the consumer being full; AMQP
                # allows any number) reaches the inbox.
                await self.queue.cancel(old)
                self.tag, self.count, self._held_by_consumer = "", count, 0
                self._full.clear()
                self._settles_open.set()
                # aiormq drops a delivery for a tag it does not know without a word,
                # leaving it unacked on the channel until the channel closes. RabbitMQ
                # sends none after the cancel-ok (AMQP; 3.10's quorum queue puts one that
                # reaches the channel later back on the queue): kept registered all the
                # same, so that one sent anyway would be handed out and settled rather
                # than held for good.
                if callback is not None:
                    underlay.consumers.setdefault(old, callback)
            self._waited_for_room = False
            self._room_timer = asyncio.get_running_loop().call_later(
                _ROOM_WAIT_S, self._room_waited
            )
            await self.resume_if_room()
        finally:
            self._settles_open.set()

    def _room_waited(self) -> None:
        self._waited_for_room = True
        self._wake()

    def _wake(self) -> None:
        if not self._woken:
            self._woken = True
            self.inbox.put_nowait(_WAKE)

    def _consumable(self) -> int:
        """Between a refit's cancel and its consume, the count to consume with now: the
        new count once the session holds few enough messages for it to fit within
        `prefetch`, after `_ROOM_WAIT_S` whatever room there is; 0 while none."""
        room = self.prefetch - self.held
        if room >= self.count or (self._waited_for_room and room >= 1):
            return min(self.count, room)
        return 0

    async def resume_if_room(self) -> None:
        """Between a refit's cancel and its consume, consume if there is room now (see
        `_consumable`); to be called when the consumer is woken (`_WAKE`)."""
        self._woken = False
        if self.tag or self.channel.is_closed:
            return
        count = self._consumable()
        if count < 1:
            return
        self.close()
        if count < self.count:
            log.debug(
                "consumer of %s waited %.1fs for room: consumes %d messages, not %d",
                self.queue.name,
                _ROOM_WAIT_S,
                count,
                self.count,
            )
        async with asyncio.timeout(self._timeout_s):
            await self.subscribe(count)

    async def settling(self, deliveries: Sequence[_RabbitDelivery]) -> None:
        """Wait until settles may be sent, then count `deliveries` settled: to be called
        right before their ack or reject is handed to the channel. A refit that finds
        the consumer full then knows that every settle the broker may get before its
        cancel has been counted."""
        while not self._settles_open.is_set():
            await self._settles_open.wait()
        self.held -= len(deliveries)
        self._held_by_consumer -= sum(
            1 for delivery in deliveries if delivery.consumer_tag == self.tag
        )
        if self._held_by_consumer < self.count:
            self._full.clear()
        if not self.tag and self._consumable():
            self._wake()

    def close(self) -> None:
        """Stop the wait for room, if any (a refit consumes, or the session ends)."""
        if self._room_timer is not None:
            self._room_timer.cancel()
            self._room_timer = None


class _RabbitDelivery:
    def __init__(
        self,
        broker: RabbitBroker,
        spec: QueueSpec,
        incoming: AbstractIncomingMessage,
        session: _Session,
    ) -> None:
        self._broker = broker
        self._spec = spec
        self._incoming = incoming
        self._session = session
        self._channel = session.channel
        # The consumer it came to: one the session may have cancelled since (`_Session`).
        self.consumer_tag = incoming.consumer_tag
        self._message = _to_message(incoming)
        headers = incoming.headers or {}
        # Times the broker took it back from a consumer that crashed or lost its connection.
        self.returns = _int_header(headers, "x-delivery-count")
        self._attempt = _int_header(headers, H_ATTEMPTS) + self.returns + 1
        self._retries = _int_header(headers, H_RETRIES)
        # How many messages it packs (`amqp_packing`); 0 for a single one.
        self.items = _packed_count(headers, self._message)
        self._settled = False
        self.tag: int = incoming.delivery_tag or 0
        # The delivery tags of its consumer session that the broker has been told nothing
        # of yet (no ack, no nack): a multiple ack must not cover one of them.
        self._unsettled = session.unsettled
        self._unsettled.add(self.tag)

    @property
    def message(self) -> Message:
        return self._message

    @property
    def attempt(self) -> int:
        return self._attempt

    @property
    def retries(self) -> int:
        return self._retries

    def _settle(self) -> bool:
        """Mark settled; False when the channel it came on is gone (the broker has already
        put it back for redelivery, so acting on it now would only duplicate it).

        Its tag stays unsettled until the ack or nack is sent: a retry or a dead letter
        publishes its copy first, and a multiple ack of a later batch meanwhile would ack
        the original before its copy exists (or, should the copy fail, instead of the
        requeue: the message would be lost)."""
        if self._settled:
            raise RuntimeError(f"delivery of {self._message.message_id} was already settled")
        self._settled = True
        if self._channel.is_closed:
            self._unsettled.discard(self.tag)
            log.warning(
                "delivery of %s outlived its channel; it will be delivered again",
                self._message.message_id,
            )
            return False
        return True

    async def _ack_quietly(self, covering: Sequence[_RabbitDelivery] = ()) -> None:
        """Ack this delivery; with `covering` (deliveries of its channel, itself the one
        tagged highest, and none other handed out below it unsettled), ack them all with
        one multiple ack."""
        acked = covering or [self]
        try:
            await self._session.settling(acked)
            await self._incoming.ack(multiple=bool(covering))
        except CONNECTION_EXCEPTIONS:
            # Lost with the connection: the broker redelivers, and processing is
            # idempotent on the message id.
            log.warning("ack of %s lost with the connection", self._message.message_id)
        finally:
            # Unsettled until the ack is handed to the connection's writer, which may take
            # turns (its queue is bounded): a multiple ack sent meanwhile must not cover it.
            self._unsettled.difference_update(delivery.tag for delivery in acked)

    async def ack(self) -> None:
        if self._settle():
            await self._ack_quietly()

    async def _requeue_later(self, after_s: float) -> None:
        """Return the message to its queue after `after_s`, because what was to settle it
        (a delayed retry's copy, a dead letter, a packed message's split, or a copy of one
        of the messages it packs) could not be published.

        The consumer has a connection of its own, so it can outlive the publishing one (a
        broker restart reconnects the consumer first): left unacked on a live channel, the
        message would never be delivered again until the worker restarts. The broker counts
        the return in x-delivery-count, so attempts still add up, and its delivery limit
        dead-letters the message should publishing never come back. The pause (capped, to
        keep a graceful stop short) keeps a redelivery from spinning while the publisher
        reconnects."""
        await asyncio.sleep(min(max(after_s, 0.0), _REQUEUE_MAX_S))
        try:
            if self._channel.is_closed:
                return  # the broker has put it back already
            # basic.reject rather than nack: RabbitMQ 4.3 and later count a reject in
            # x-delivery-count and no longer a nack, and the count is what makes a
            # packed message split when it comes again, and what the delivery limit reads.
            await self._session.settling([self])
            await self._incoming.reject(requeue=True)
        except CONNECTION_EXCEPTIONS:
            log.warning("requeue of %s lost with the connection", self._message.message_id)
        finally:
            self._unsettled.discard(self.tag)

    async def retry(self, reason: str, delay_s: float, *, counted: bool = True) -> None:
        # The attempts the next delivery starts from: this one, unless it does not count.
        spent = self._attempt if counted else self._attempt - 1
        await self._replace(
            lambda: self._broker._publish_delayed(
                self._spec, self._message, spent, self._retries + 1, reason, delay_s
            ),
            delay_s,
        )

    async def dead_letter(self, reason: str) -> None:
        await self._dead_letter(reason, self._attempt)

    async def _dead_letter(self, reason: str, attempts: int) -> None:
        await self._replace(
            lambda: self._broker._publish_dead_letter(
                self._spec, self._message, reason, attempts, items=self.items
            ),
            _REQUEUE_MAX_S,
        )

    async def split(self, messages: Sequence[Message]) -> None:
        """Settle a packed message by publishing each of `messages`, the ones it packs,
        straight to its queue as a single message (not through the exchange: the other
        queues bound to its routing key had their copy), its attempts so far carried on."""
        # This delivery only splits it; and each message keeps one attempt at least, should
        # the split itself have been put back until the attempts ran out (its publishes
        # failing while the broker could not store them: no attempt of theirs failed).
        spent = min(self._attempt - 1, self._spec.max_attempts - 1)

        async def publish() -> None:
            outcomes = await self._broker._publish_group(
                [(message, True) for message in messages],
                to_queue=self._spec.name,
                extra_headers={H_ATTEMPTS: spent},
            )
            for outcome in outcomes:
                if outcome is not None:
                    # The whole goes back (those confirmed come twice, as after a crash).
                    raise outcome

        await self._replace(publish, _REQUEUE_MAX_S)

    async def _replace(
        self, publish: Callable[[], Awaitable[None]], requeue_after_s: float
    ) -> None:
        """Settle by publishing what replaces the message (a delayed copy, a dead letter,
        the messages it packs), then acking it: confirmed before the ack, so a crash in
        between duplicates, never loses. What cannot be published now leaves the message
        to go back to its queue after `requeue_after_s`, and raises QueueUnavailable."""
        if not self._settle():
            return
        try:
            await publish()
        except QueueUnavailable:
            await self._requeue_later(requeue_after_s)
            raise
        await self._ack_quietly()


class _Packed:
    """An AMQP message packing several (`amqp_packing`), handed out as one delivery each:
    acked once every one of them is settled; put back to its queue instead when a copy
    that was to settle one (a retry's, a dead letter) could not be published, and then
    split when it comes again (`RabbitBroker._received`)."""

    def __init__(self, delivery: _RabbitDelivery, count: int) -> None:
        self.delivery = delivery
        # Its messages not settled yet.
        self.open = count
        # Whether a copy of one of them could not be published.
        self.failed = False


class _PackedItem:
    """The delivery of one message of a packed AMQP message. Its attempt is the packed
    message's (a fresh one: one delivered again is split, not handed out)."""

    def __init__(self, packed: _Packed, message: Message) -> None:
        self._packed = packed
        self._message = message
        self._settled = False

    @property
    def message(self) -> Message:
        return self._message

    @property
    def attempt(self) -> int:
        return self._packed.delivery.attempt

    @property
    def retries(self) -> int:
        return 0

    def _settle(self) -> bool:
        """Mark settled; False when the packed message's channel is gone (the broker has
        put it back already, to be split when it comes again)."""
        if self._settled:
            raise RuntimeError(f"delivery of {self._message.message_id} was already settled")
        self._settled = True
        if self._packed.delivery._channel.is_closed:
            log.warning(
                "delivery of %s outlived its channel; it will be delivered again",
                self._message.message_id,
            )
            return False
        return True

    async def _count_settled(self) -> _RabbitDelivery | None:
        """Count this one settled: the packed message's delivery, to be acked, once it was
        the last one open and every copy was published; None while others are open (or
        when the packed message was put back instead)."""
        packed = self._packed
        packed.open -= 1
        if packed.open > 0 or not packed.delivery._settle():
            return None
        if packed.failed:
            # Put back after a pause, in the background: whoever settled this last (a
            # whole batch's ack, say) is not held up by another message's failed copy.
            packed.delivery._broker._in_background(packed.delivery._requeue_later(_REQUEUE_MAX_S))
            return None
        return packed.delivery

    async def ack(self) -> None:
        if self._settle() and (done := await self._count_settled()) is not None:
            await done._ack_quietly()

    async def retry(self, reason: str, delay_s: float, *, counted: bool = True) -> None:
        spent = self.attempt if counted else self.attempt - 1
        broker, spec = self._packed.delivery._broker, self._packed.delivery._spec
        await self._replace(
            lambda: broker._publish_delayed(spec, self._message, spent, 1, reason, delay_s)
        )

    async def dead_letter(self, reason: str) -> None:
        broker, spec = self._packed.delivery._broker, self._packed.delivery._spec
        await self._replace(
            lambda: broker._publish_dead_letter(spec, self._message, reason, self.attempt)
        )

    async def _replace(self, publish: Callable[[], Awaitable[None]]) -> None:
        """Settle by publishing the message's copy; one that cannot be published now
        (QueueUnavailable), or whose publish was cut short (a cancellation: whether the
        broker has it is unknown), fails the packed message (put back once all its
        messages are settled, so this one comes again) and is raised."""
        if not self._settle():
            return
        try:
            await publish()
        except BaseException:
            self._packed.failed = True
            raise
        finally:
            if (done := await self._count_settled()) is not None:
                await done._ack_quietly()


class RabbitBroker:
    """`MessageBroker` on RabbitMQ: topic exchange, quorum queues, confirms, manual acks."""

    def __init__(
        self,
        url: str,
        *,
        exchange: str = "fitboard",
        confirm_timeout_s: float = 5.0,
        max_publishes_per_write: int = 512,
        max_items_per_message: int = 100,
        partitions: int = 1,
    ) -> None:
        """`partitions`: the number of partitions of each queue split in partitions
        (`application.messaging.partitions`), the same in every process of a deployment;
        a message with a `partition_key` is published to its partition's routing key.
        1: every message to its own routing key."""
        if max_items_per_message < 1:
            raise ValueError("max_items_per_message must be at least 1")
        if partitions < 1:
            raise ValueError("partitions must be at least 1")
        self._items_per_message = max_items_per_message
        self._partitions = partitions
        self._nodes = AmqpNodes.from_setting(url)
        self._exchange_name = exchange
        self._dlx_name = f"{exchange}.dlx"
        self._confirm_timeout_s = confirm_timeout_s
        self._connection: AbstractRobustConnection | None = None
        self._connection_url = ""
        self._channel: AbstractRobustChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._dlx: AbstractExchange | None = None
        self._connect_lock = asyncio.Lock()
        self._consumer_connections: set[AbstractConnection] = set()
        self._closing: set[asyncio.Task[None]] = set()
        # Settlings run on their own (`_in_background`).
        self._background: set[asyncio.Task[None]] = set()
        self._closed = False
        # Publishes made together share one confirm wait.
        self._publishes: GroupCommit[tuple[Message, bool]] = GroupCommit(
            self._write_publishes,
            max_items=max_publishes_per_write,
            name="rabbitmq publish",
        )

    # ------------------------------------------------------------------ plumbing

    async def _publisher(self) -> tuple[AbstractRobustChannel, AbstractExchange, AbstractExchange]:
        if self._closed:
            raise QueueUnavailable("the broker client is closed")
        async with self._connect_lock:
            if self._connection is None:
                # fail_fast: the first connection raises instead of retrying forever; after
                # that the robust connection reconnects every second by itself (to its
                # node: with several, `_publisher_lost` moves on to the next one instead).
                url, connection = await self._nodes.connect(
                    lambda url: aio_pika.connect_robust(
                        url, timeout=self._confirm_timeout_s, reconnect_interval=1.0
                    )
                )
                if len(self._nodes.urls) > 1:
                    connection.close_callbacks.add(self._publisher_lost)
                self._connection, self._connection_url = connection, url
            if self._channel is None or self._exchange is None or self._dlx is None:
                channel = await self._connection.channel(
                    publisher_confirms=True, on_return_raises=True
                )
                assert isinstance(channel, AbstractRobustChannel)
                self._exchange = await channel.declare_exchange(
                    self._exchange_name, ExchangeType.TOPIC, durable=True
                )
                self._dlx = await channel.declare_exchange(
                    self._dlx_name, ExchangeType.DIRECT, durable=True
                )
                self._channel = channel
            return self._channel, self._exchange, self._dlx

    async def _confirmed(
        self,
        target: str,
        routing_key: str,
        amqp_message: aio_pika.Message,
        *,
        mandatory: bool = True,
    ) -> None:
        """Publish to `target` ("topic", "dlx" or "" for the default exchange) and wait for
        the broker's confirm, within `confirm_timeout_s` all told."""
        channel: AbstractChannel | None = None
        try:
            async with asyncio.timeout(self._confirm_timeout_s):
                channel, exchange, dlx = await self._publisher()
                destination = {"topic": exchange, "dlx": dlx}.get(target, channel.default_exchange)
                await destination.publish(amqp_message, routing_key, mandatory=mandatory)
        except TimeoutError as exc:
            self._forget_broken_channel()
            raise QueueUnavailable(
                f"no confirm within {self._confirm_timeout_s}s (broker down or blocked)"
            ) from exc
        except DeliveryError as exc:
            if channel is not None and _refused(exc):
                self._renew_refusing_channel(channel)
            raise QueueUnavailable(
                f"message for {routing_key!r} was returned or refused by the broker: {exc}"
            ) from exc
        except CONNECTION_EXCEPTIONS as exc:
            self._forget_broken_channel()
            raise QueueUnavailable(f"broker unreachable: {exc!r}") from exc

    def _publisher_lost(
        self, connection: AbstractConnection | None, _: BaseException | None, /
    ) -> None:
        """With several nodes, a lost publishing connection is given up at once rather than
        left to reconnect to its node, which may be down for good: the next publish
        connects to the next node that accepts. Publishes in flight on it end unconfirmed
        (QueueUnavailable, whether or not the node had taken them: redelivery is idempotent
        on the message id); none waits for a node that is gone."""
        current = self._connection
        if current is None or connection is not current or self._closed:
            return  # closed by `close`, or already replaced
        log.warning("lost the broker node of the publishing connection; moving to the next")
        self._nodes.lost(self._connection_url)
        self._connection = self._channel = self._exchange = self._dlx = None
        # Stops its reconnect loop; its channels and pending confirms fail with it.
        task = asyncio.get_running_loop().create_task(current.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _renew_refusing_channel(self, channel: AbstractChannel) -> None:
        """Give up a publishing channel the broker refused a message on; the next publish
        opens a fresh one.

        RabbitMQ 3.10 refuses (basic.nack) what is published to a quorum queue that has no
        leader, as in the seconds after the leader's node died; a channel that was refused
        then went on being refused after the new leader was elected (seen on the tests'
        three-node cluster: every publish for 20 s), where a new channel's were confirmed
        within a second. The nack still means "not stored": the caller gets
        QueueUnavailable (503) either way."""
        if self._channel is not channel:
            return  # renewed already
        log.warning("the broker refused a publish; reopening the publishing channel")
        self._channel = self._exchange = self._dlx = None
        task = asyncio.get_running_loop().create_task(self._close_quietly(channel))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close_quietly(channel: AbstractChannel) -> None:
        with contextlib.suppress(*CONNECTION_EXCEPTIONS):
            await channel.close()

    def _forget_broken_channel(self) -> None:
        """Drop a publishing channel that stays closed on a live connection.

        The robust connection restores its channels when it reconnects, but a channel
        closed by the broker while the connection stays up (or one whose restore failed)
        can stay closed; publishing on it would time out forever. The next publish opens
        a fresh one."""
        connection, channel = self._connection, self._channel
        if (
            connection is not None
            and channel is not None
            and channel.is_closed
            and not connection.is_closed
            and connection.connected.is_set()
        ):
            log.warning("publishing channel stayed closed on a live connection; reopening")
            self._channel = self._exchange = self._dlx = None

    async def _with_channel(self, timeout_s: float) -> AbstractChannel:
        """A short-lived channel on the publishing connection, for admin operations."""
        async with asyncio.timeout(timeout_s):
            await self._publisher()
            assert self._connection is not None
            return await self._connection.channel(publisher_confirms=True)

    def _queue_arguments(self, spec: QueueSpec) -> dict[str, Any]:
        return {
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": self._dlx_name,
            "x-dead-letter-routing-key": spec.home,
            # The broker dead-letters once x-delivery-count exceeds this, i.e. it makes one
            # delivery beyond the last attempt. That delivery never reaches the worker:
            # `consume` dead-letters it with a reason and the attempt count. The broker's
            # own limit is the backstop should that consumer die too.
            "x-delivery-limit": spec.max_attempts,
            # At-least-once dead-lettering (RabbitMQ >= 3.10) needs reject-publish.
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }

    def _retry_queue_arguments(self, spec: QueueSpec, step_s: float) -> dict[str, Any]:
        # No x-expires, ever: a queue that can expire must never hold a message.
        return {
            "x-queue-type": "quorum",
            "x-message-ttl": round(step_s * 1000),
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": spec.home,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }

    # ------------------------------------------------------------------ the port

    async def declare(self, spec: QueueSpec) -> None:
        try:
            channel = await self._with_channel(3 * self._confirm_timeout_s)
            try:
                async with asyncio.timeout(3 * self._confirm_timeout_s):
                    exchange = await channel.declare_exchange(
                        self._exchange_name, ExchangeType.TOPIC, durable=True
                    )
                    dlx = await channel.declare_exchange(
                        self._dlx_name, ExchangeType.DIRECT, durable=True
                    )
                    # A partition's dead letters and retry queues are its parent's,
                    # declared with it as well: idempotent, and a retry finds them.
                    dlq = await channel.declare_queue(
                        f"{spec.home}.dlq", durable=True, arguments={"x-queue-type": "quorum"}
                    )
                    await dlq.bind(dlx, routing_key=spec.home)
                    queue = await channel.declare_queue(
                        spec.name, durable=True, arguments=self._queue_arguments(spec)
                    )
                    for key in spec.bindings:
                        await queue.bind(exchange, routing_key=key)
                    for step in spec.retry_delays_s:
                        await channel.declare_queue(
                            retry_queue_name(spec, step),
                            durable=True,
                            arguments=self._retry_queue_arguments(spec, step),
                        )
            finally:
                with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                    await channel.close()
        except TimeoutError as exc:
            raise QueueUnavailable(f"could not declare {spec.name}: broker not answering") from exc
        except CONNECTION_EXCEPTIONS as exc:
            raise QueueUnavailable(f"could not declare {spec.name}: {exc!r}") from exc

    async def delete(self, spec: QueueSpec) -> None:
        """Remove the queue, its dead letters and its retry queues (tests and admin only); a
        partition, only itself (the rest is its parent's)."""
        channel = await self._with_channel(3 * self._confirm_timeout_s)
        try:
            retry_queues = [retry_queue_name(spec, step) for step in spec.retry_delays_s]
            owned = () if spec.parent else (f"{spec.name}.dlq", *retry_queues)
            for name in (spec.name, *owned):
                await channel.queue_delete(name)
        finally:
            with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                await channel.close()

    async def delete_exchanges(self) -> None:
        """Remove this client's exchange and its dead-letter exchange (tests only)."""
        channel = await self._with_channel(3 * self._confirm_timeout_s)
        try:
            for name in (self._exchange_name, self._dlx_name):
                await channel.exchange_delete(name)
        finally:
            with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                await channel.close()

    async def publish(self, message: Message, *, mandatory: bool = True) -> None:
        (outcome,) = await self.publish_many([message], mandatory=mandatory)
        if outcome is not None:
            raise outcome

    async def publish_many(
        self, messages: Sequence[Message], *, mandatory: bool = True
    ) -> list[QueueUnavailable | None]:
        return await publish_through(
            self._publishes,
            [(m, mandatory) for m in messages],
            closed="the broker client is closed",
        )

    async def _write_publishes(
        self, items: list[tuple[Message, bool]]
    ) -> list[QueueUnavailable | None]:
        """Publish a group back to back on the confirming channel and wait for all their
        confirms together, within `confirm_timeout_s` all told: the messages that go the
        same way (routing key and `mandatory`) packed several to an AMQP message
        (`amqp_packing`), up to `max_items_per_message`. The broker confirms (or returns,
        or refuses) each AMQP message on its own: each message has its own's outcome."""
        publishes, packed = _packed(items, self._items_per_message, self._partitions)
        outcomes = await self._publish_group(publishes)
        each: list[QueueUnavailable | None] = [None] * len(items)
        for outcome, indices in zip(outcomes, packed, strict=True):
            for index in indices:
                each[index] = outcome
        return each

    async def _publish_group(
        self,
        publishes: list[tuple[Message, bool]],
        *,
        to_queue: str | None = None,
        extra_headers: Mapping[str, Any] | None = None,
    ) -> list[QueueUnavailable | None]:
        """Publish each message of `publishes` as an AMQP message, all back to back, and
        wait for their confirms together; one outcome each. To the topic exchange, or
        straight to the queue `to_queue` (`_publish_together`)."""
        try:
            async with asyncio.timeout(self._confirm_timeout_s):
                channel, exchange, _ = await self._publisher()
                underlay = await channel.get_underlay_channel()
                # aiormq's own Channel, whose internals _publish_together uses.
                assert isinstance(underlay, aiormq.Channel)
                confirmations = await _publish_together(
                    underlay,
                    exchange.name if to_queue is None else "",
                    publishes,
                    datetime.now(UTC),
                    to_queue=to_queue,
                    extra_headers=extra_headers,
                    partitions=self._partitions,
                )
                results = await asyncio.gather(
                    *confirmations,
                    return_exceptions=True,
                )
        except TimeoutError as exc:
            self._forget_broken_channel()
            text = f"no confirm within {self._confirm_timeout_s}s (broker down or blocked)"
            return [_unavailable(text, exc) for _ in publishes]
        except CONNECTION_EXCEPTIONS as exc:
            self._forget_broken_channel()
            return [_unavailable(f"broker unreachable: {exc!r}", exc) for _ in publishes]
        outcomes: list[QueueUnavailable | None] = []
        broken = refused = False
        for (message, _), result in zip(publishes, results, strict=True):
            if not isinstance(result, BaseException):
                outcomes.append(None)
            elif isinstance(result, DeliveryError):
                refused = refused or _refused(result)
                outcomes.append(
                    _unavailable(
                        f"message for {message.routing_key!r} was returned or refused by "
                        f"the broker: {result}",
                        result,
                    )
                )
            elif isinstance(result, CONNECTION_EXCEPTIONS):
                broken = True
                outcomes.append(_unavailable(f"broker unreachable: {result!r}", result))
            elif isinstance(result, Exception):
                outcomes.append(_unavailable(f"publish failed: {result!r}", result))
            elif isinstance(result, asyncio.CancelledError):
                # The message's confirmation was cancelled, not this task (the gather
                # would have raised): it was never confirmed.
                outcomes.append(_unavailable("publish cancelled before its confirm", result))
            else:
                raise result  # an exit, not a failed publish
        if broken:
            self._forget_broken_channel()
        if refused:
            self._renew_refusing_channel(channel)
        return outcomes

    def consume(self, spec: QueueSpec, prefetch: int) -> AsyncGenerator[Delivery, None]:
        return one_by_one(self.consume_batches(spec, prefetch, 1))

    async def consume_batches(
        self, spec: QueueSpec, prefetch: int, max_batch: int
    ) -> AsyncGenerator[list[Delivery], None]:
        if prefetch < 1 or max_batch < 1:
            raise ValueError("prefetch and max_batch must be at least 1")
        backoff = _RECONNECT_MIN_S
        declared = False
        while not self._closed:
            opened: list[tuple[str, AbstractConnection]] = []
            session: _Session | None = None
            try:
                # The set-up talks to the broker; a stop must not cut it short (see
                # _uninterrupted). A consumer started while the broker is away (a worker
                # taking a partition during an outage) waits for it as one that lost it.
                if not declared:
                    await _uninterrupted(self.declare(spec))
                    declared = True
                session = await _uninterrupted(self._subscribe(spec, prefetch, opened))
                backoff = _RECONNECT_MIN_S
                # Unpacked deliveries beyond a batch's `max_batch`, for the next batches.
                pending: collections.deque[Delivery] = collections.deque()
                session_open = True
                while session_open:
                    batch, session_open = await self._take_batch(spec, session, max_batch, pending)
                    if batch:
                        yield batch
            except QueueUnavailable as exc:
                if self._closed:
                    break
                log.warning("consumer of %s cannot declare it yet (%s); retrying", spec.name, exc)
            except CONNECTION_EXCEPTIONS as exc:
                if self._closed:
                    break
                log.warning("consumer of %s lost the broker (%r); reconnecting", spec.name, exc)
            finally:
                if session is not None:
                    session.close()
                for url, connection in opened:
                    if not self._closed and not connection.connected.is_set():
                        # Lost, not closed by this loop: with several nodes, the next
                        # session tries another one first.
                        self._nodes.lost(url)
                    self._consumer_connections.discard(connection)
                    # Closing returns every unacked message to the queue, counted by the
                    # broker in x-delivery-count.
                    with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                        await connection.close()
            if not self._closed:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _RECONNECT_MAX_S)

    async def _take_batch(
        self,
        spec: QueueSpec,
        session: _Session,
        max_batch: int,
        pending: collections.deque[Delivery],
    ) -> tuple[list[Delivery], bool]:
        """Wait for a delivery, then take what else is ready (within BATCH_LINGER_S), up to
        `max_batch`: first what `pending` holds (unpacked and not handed out yet), and
        there what does not fit in this batch; and whether the session is still open (None
        in the inbox ends it: what `pending` holds is then given up with its packed
        message, which the broker delivers again).

        The consumer's prefetch count is refitted (`_Session`) when due: looked at here,
        before waiting and after each message taken, since the consumer becomes full as
        messages arrive, whether or not batches are being taken."""
        inbox, channel = session.inbox, session.channel
        await self._refit_if_due(session)
        batch: list[Delivery] = []
        if channel.is_closed:
            # The session is over: what `pending` holds went back to the broker with its
            # packed messages, and settling it would only log that it outlived its channel.
            pending.clear()
        while pending and len(batch) < max_batch:
            batch.append(pending.popleft())
        if len(batch) >= max_batch:
            return batch, True
        deadline = asyncio.get_running_loop().time() + BATCH_LINGER_S
        if batch:
            got, incoming = await _ready(inbox, deadline)
            if not got:
                return batch, True
        else:
            incoming = await inbox.get()
        while incoming is not None:
            if isinstance(incoming, _Wake):
                await self._refit_if_due(session)
            else:
                for delivery in await self._received(spec, incoming, session):
                    (batch if len(batch) < max_batch else pending).append(delivery)
                await self._refit_if_due(session)
                if len(batch) >= max_batch:
                    return batch, True
            if not batch:
                # Nothing to hand out yet (woken, or what came was settled here).
                incoming = await inbox.get()
                continue
            got, incoming = await _ready(inbox, deadline)
            if not got:
                return batch, True
        pending.clear()
        return batch, False

    async def _received(
        self, spec: QueueSpec, incoming: AbstractIncomingMessage, session: _Session
    ) -> list[Delivery]:
        """The deliveries an AMQP message makes: itself, or each message it packs; none
        when it is settled here (buried after its last attempt, unreadable, or split)."""
        delivery = _RabbitDelivery(self, spec, incoming, session)
        count = delivery.items
        if count < 1:
            if delivery.attempt > spec.max_attempts and delivery.returns:
                # The retry policy dead-letters at the limit, so only crashes get a
                # message here: the previous consumer died on its last attempt.
                await self._bury_abandoned(delivery)
                return []
            return [delivery]
        try:
            messages = unpack(incoming.body, count, delivery.message.routing_key)
        except PackedUnreadable as exc:
            await self._settle_here(delivery.dead_letter(f"unreadable packed message: {exc}"))
            return []
        if delivery.returns:
            # Given back by a consumer that died or lost its connection holding it: its
            # messages go on as single ones, each of whose attempts then counts on its
            # own (a message that kills its consumer takes no other down with it).
            await self._settle_here(delivery.split(messages))
            return []
        packed = _Packed(delivery, len(messages))
        return [_PackedItem(packed, message) for message in messages]

    @staticmethod
    async def _refit_if_due(session: _Session) -> None:
        """Subscribe again with a fitting prefetch count, when due, or consume again if a
        refit waits for room and there is (`_Session`); a stop must not cut that short
        (see `_uninterrupted`): cancelled, the consumer would be gone and its settles
        held back."""
        if not session.tag:
            await _uninterrupted(session.resume_if_room())
            return
        count = session.begin_refit()
        if count is not None:
            await _uninterrupted(session.refit(count))

    @staticmethod
    async def _settle_here(settling: Coroutine[Any, Any, None]) -> None:
        """A settling of a delivery the consumer does not hand out; one that cannot be done
        now has put the message back (see `_RabbitDelivery._requeue_later`)."""
        try:
            await settling
        except QueueUnavailable as exc:
            log.warning("could not settle a delivery now; it comes again: %s", exc)

    async def ack_many(self, deliveries: Sequence[Delivery]) -> None:
        live: list[_RabbitDelivery] = []
        for delivery in deliveries:
            if isinstance(delivery, _PackedItem):
                # Its packed message is acked with the others once the last of its
                # messages is settled.
                if delivery._settle() and (done := await delivery._count_settled()) is not None:
                    live.append(done)
            elif _own_delivery(delivery)._settle():
                live.append(_own_delivery(delivery))
        # A batch merged from several queues (`consuming.run_batch_consumer`) holds
        # deliveries of several sessions, each on its own channel: one write each.
        by_channel: dict[int, list[_RabbitDelivery]] = {}
        for delivery in live:
            by_channel.setdefault(id(delivery._channel), []).append(delivery)
        for group in by_channel.values():
            last = max(group, key=lambda delivery: delivery.tag)
            # basic.ack with multiple=True settles every unacked delivery of the channel
            # up to its tag, whichever of the session's consumers it came to: only right
            # when none handed out before `last` is unsettled but these (deliveries still
            # in the inbox came later and have higher tags: the inbox takes them in the
            # order the channel received them, across a refit's consumers too).
            acked = {delivery.tag for delivery in group}
            if not any(tag < last.tag and tag not in acked for tag in last._unsettled):
                await last._ack_quietly(covering=group)
                continue
            for delivery in group:
                await delivery._ack_quietly()

    async def _subscribe(
        self, spec: QueueSpec, prefetch: int, opened: list[tuple[str, AbstractConnection]]
    ) -> _Session:
        """One consumer session on a connection of its own, to the first node that accepts
        it (added to `opened` with its node's URL, for the caller to close): deliveries go
        to its inbox, and None goes there when the session ends (connection or channel
        closed, consumer cancelled by the broker).

        Its prefetch count starts at what fits `prefetch` items if every message is full
        (`_Session`), whatever an earlier session of this consumer had fitted: the first
        messages it gets may be the packed ones that session held (split, not handed
        out, but held all the same)."""
        url, connection = await self._nodes.connect(
            lambda url: aio_pika.connect(url, timeout=self._confirm_timeout_s)
        )
        opened.append((url, connection))
        self._consumer_connections.add(connection)
        channel = await connection.channel(publisher_confirms=False)
        queue = await channel.get_queue(spec.name, ensure=True)
        inbox: _Inbox = asyncio.Queue()
        session = _Session(
            channel,
            queue,
            inbox,
            prefetch,
            self._items_per_message,
            3 * self._confirm_timeout_s,
        )
        lost = _waker(inbox)
        connection.close_callbacks.add(lost)
        channel.close_callbacks.add(lost)
        underlay = await channel.get_underlay_channel()
        # The broker's basic.cancel only: aiormq calls these for a cancel of the broker's
        # (the queue deleted, say), not for the cancel-ok of a refit's own cancel.
        underlay.on_consumer_cancel_callbacks.add(lost)
        await session.subscribe(session.count)
        return session

    async def _bury_abandoned(self, delivery: _RabbitDelivery) -> None:
        attempts = delivery.attempt - 1
        try:
            await delivery._dead_letter(
                f"delivered {attempts} times without ack (consumer crashed or hung)", attempts
            )
        except QueueUnavailable:
            # Requeued: it comes again, or the broker's delivery limit dead-letters it.
            log.warning("could not dead-letter %s now", delivery.message.message_id)

    async def dead_letters(self, spec: QueueSpec, limit: int = 100) -> list[DeadLetter]:
        try:
            channel = await self._with_channel(3 * self._confirm_timeout_s)
        except (TimeoutError, *CONNECTION_EXCEPTIONS) as exc:
            raise QueueUnavailable(f"cannot list dead letters: {exc!r}") from exc
        held: list[AbstractIncomingMessage] = []
        try:
            async with asyncio.timeout(3 * self._confirm_timeout_s):
                queue = await channel.declare_queue(f"{spec.home}.dlq", passive=True)
                # Read past messages by holding them unacked, then hand them all back:
                # nothing is consumed by looking.
                while len(held) < limit:
                    incoming = await queue.get(no_ack=False, fail=False)
                    if incoming is None:
                        break
                    held.append(incoming)
                # A packed message the broker dead-lettered (its delivery limit reached)
                # is listed as the messages it packs.
                listed = [
                    letter
                    for incoming in held
                    for letter in self._to_dead_letters(spec, incoming)[0]
                ][:limit]
                await self._hand_back(held)
            return listed
        except (TimeoutError, *CONNECTION_EXCEPTIONS) as exc:
            raise QueueUnavailable(f"cannot list dead letters: {exc!r}") from exc
        finally:
            with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                await channel.close()

    @staticmethod
    async def _hand_back(held: list[AbstractIncomingMessage]) -> None:
        """Requeue messages held by basic.get. Its callers close the channel next: once
        it is closed, any later basic.get on the queue, on any channel, finds them.

        A channel handles its methods in order, so by its close-ok the broker has handled
        the nack and sent the queue a requeue for each message (beyond the 32 commands a
        channel leaves pending on a quorum queue, the rest follow as earlier ones are
        applied, or the queue returns them when the channel closes). A quorum queue
        applies commands in the order of its Raft log, so a dequeue reaching it later
        comes after them: measured on RabbitMQ 3.10 with the node's WAL held back, the
        next listing waited for the log, then found all 100 messages a listing had held.

        Nothing here waits for the queue's message count (a passive declare) to show
        them: that count trails a requeue (see `depth`), by seconds on a loaded node, and
        a listing that waited for it waited out its whole bound on every call."""
        if held:
            await held[-1].nack(multiple=True, requeue=True)

    def _to_dead_letters(
        self, spec: QueueSpec, incoming: AbstractIncomingMessage
    ) -> tuple[list[DeadLetter], _Packing]:
        """The dead letter `incoming` is, or, packed, one for each message it packs; one
        for the whole when it cannot be read. And which of those it is."""
        letter = self._to_dead_letter(spec, incoming)
        count = _packed_count(incoming.headers or {}, letter.message)
        if count < 1:
            return [letter], _Packing.SINGLE
        try:
            messages = unpack(incoming.body, count, letter.message.routing_key)
        except PackedUnreadable:
            return [letter], _Packing.UNREADABLE
        letters = [dataclasses.replace(letter, message=message) for message in messages]
        return letters, _Packing.READ

    def _to_dead_letter(self, spec: QueueSpec, incoming: AbstractIncomingMessage) -> DeadLetter:
        headers = incoming.headers or {}
        message = _to_message(incoming)
        reason = _str_header(headers, H_REASON)
        failed_at_text = _str_header(headers, H_FAILED_AT)
        attempts = _int_header(headers, H_ATTEMPTS)
        failed_at = datetime.fromisoformat(failed_at_text) if failed_at_text else None
        if reason is None:
            # Dead-lettered by the broker itself (delivery limit reached).
            deaths = headers.get("x-death")
            death: Mapping[str, Any] = (
                deaths[0]
                if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict)
                else {}
            )
            delivered = attempts + spec.max_attempts + 1
            reason = (
                f"delivered {delivered} times without ack (consumer crashed or hung)"
                if death.get("reason") in ("delivery_limit", b"delivery_limit")
                else f"dead-lettered by the broker: {death.get('reason')!r}"
            )
            attempts = delivered
            when = death.get("time")
            failed_at = when if isinstance(when, datetime) else None
        return DeadLetter(
            message=message,
            queue=spec.home,
            reason=reason,
            attempts=attempts,
            failed_at=failed_at or incoming.timestamp or datetime.now(UTC),
        )

    async def replay_dead_letters(
        self, spec: QueueSpec, message_ids: Sequence[str] | None = None
    ) -> int:
        wanted = set(message_ids) if message_ids is not None else None
        try:
            channel = await self._with_channel(3 * self._confirm_timeout_s)
        except (TimeoutError, *CONNECTION_EXCEPTIONS) as exc:
            raise QueueUnavailable(f"cannot replay dead letters: {exc!r}") from exc
        moved = 0
        kept: list[AbstractIncomingMessage] = []
        # A message that fails at once after its replay and is dead-lettered again must not
        # be replayed again by the same call (it would loop): one replay per id per call.
        replayed: set[str] = set()
        try:
            queue = await channel.declare_queue(f"{spec.home}.dlq", passive=True)
            while True:
                async with asyncio.timeout(3 * self._confirm_timeout_s):
                    incoming = await queue.get(no_ack=False, fail=False)
                if incoming is None:
                    break
                letters, packed = self._to_dead_letters(spec, incoming)
                if packed is _Packing.READ:
                    # Packed (dead-lettered by the broker): split into single dead letters,
                    # which this loop comes to in their turn.
                    for letter in letters:
                        await self._publish_dead_letter(
                            spec, letter.message, letter.reason, letter.attempts
                        )
                    await incoming.ack()
                    continue
                message = letters[0].message
                if (
                    packed is _Packing.UNREADABLE  # kept: it would only be dead-lettered again
                    or message.message_id in replayed
                    or (wanted is not None and message.message_id not in wanted)
                ):
                    # Held unacked so the next get moves past it; handed back below.
                    kept.append(incoming)
                    continue
                # Straight to the queue through the default exchange: the other queues
                # bound to its routing key already had their copy. Confirmed before the
                # ack, so a crash in between duplicates, never loses.
                await self._confirmed("", spec.home, _amqp_message(message))
                replayed.add(message.message_id)
                await incoming.ack()
                moved += 1
            async with asyncio.timeout(3 * self._confirm_timeout_s):
                await self._hand_back(kept)
        except (TimeoutError, *CONNECTION_EXCEPTIONS) as exc:
            raise QueueUnavailable(f"replay of {spec.name} interrupted: {exc!r}") from exc
        finally:
            with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                await channel.close()
        return moved

    async def depth(self, spec: QueueSpec) -> QueueDepth:
        """From passive declares, which touch no message (a basic.get would count a
        delivery against a quorum queue's limit).

        A quorum queue's count is what its Ra leader has applied, asked with a 250 ms
        bound (RabbitMQ 3.10, `rabbit_quorum_queue:stat/2`): a leader that does not answer
        in time, as on a loaded node, counts 0. A confirmed publish is applied before its
        confirm, so it is counted; a message handed back (nacked with requeue, as a
        listing or replay of dead letters does) is counted only once its requeue is
        committed to the queue's log, which takes a write of the node's WAL: milliseconds,
        or as long as confirms take on a loaded node. So these are gauges, which may
        count fewer messages than the queues hold for a moment."""
        async with self._looking(f"cannot read the depth of {spec.name}") as channel:

            async def declared(name: str) -> tuple[int, int]:
                result = (await channel.declare_queue(name, passive=True)).declaration_result
                return result.message_count or 0, result.consumer_count or 0

            try:
                ready, consumers = await declared(spec.name)
                retrying = dead = 0
                # A partition's retries and dead letters are its parent's, counted there.
                if spec.parent is None:
                    for step in spec.retry_delays_s:
                        retrying += (await declared(retry_queue_name(spec, step)))[0]
                    dead, _ = await declared(f"{spec.name}.dlq")
            except ChannelNotFoundEntity as exc:
                # A queue not declared (yet, or any more) is a queue that cannot be read now.
                raise QueueUnavailable(f"cannot read the depth of {spec.name}: {exc!r}") from exc
        return QueueDepth(
            ready=ready, retrying=retrying, dead_letters=dead, in_flight=None, consumers=consumers
        )

    async def exists(self, spec: QueueSpec) -> bool:
        async with self._looking(f"cannot look for {spec.name}") as channel:
            try:
                await channel.declare_queue(spec.name, passive=True)
            except ChannelNotFoundEntity:
                return False
            return True

    @contextlib.asynccontextmanager
    async def _looking(self, cannot: str) -> AsyncIterator[AbstractChannel]:
        """A channel of its own for passive declares, closed afterwards (the broker closes
        one whose declare finds no queue), within the broker client's bound; a broker out
        of reach or not answering raises QueueUnavailable, `cannot` saying what failed."""
        try:
            channel = await self._with_channel(3 * self._confirm_timeout_s)
        except (TimeoutError, *CONNECTION_EXCEPTIONS) as exc:
            raise QueueUnavailable(f"{cannot}: {exc!r}") from exc
        try:
            async with asyncio.timeout(3 * self._confirm_timeout_s):
                yield channel
        except (TimeoutError, *CONNECTION_EXCEPTIONS) as exc:
            raise QueueUnavailable(f"{cannot}: {exc!r}") from exc
        finally:
            with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                await channel.close()

    async def ping(self) -> None:
        try:
            channel = await self._with_channel(self._confirm_timeout_s)
            await channel.close()
        except (TimeoutError, *CONNECTION_EXCEPTIONS) as exc:
            raise QueueUnavailable(f"broker unreachable: {exc!r}") from exc

    async def close(self) -> None:
        # Publishes already made get their confirms (or fail) before the connection goes.
        await self._publishes.close()
        self._closed = True
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._closing, *self._background, return_exceptions=True)
        for connection in list(self._consumer_connections):
            with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                await connection.close()
        if self._connection is not None:
            with contextlib.suppress(*CONNECTION_EXCEPTIONS):
                await self._connection.close()
        self._connection = self._channel = self._exchange = self._dlx = None

    # ------------------------------------------------------------------ for deliveries

    def _in_background(self, step: Coroutine[Any, Any, None]) -> None:
        """Run `step` on its own, kept until it ends (`close` waits for none: a requeue
        cut short leaves its message to the closing connection, which gives it back)."""
        task = asyncio.get_running_loop().create_task(step)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _publish_delayed(
        self,
        spec: QueueSpec,
        message: Message,
        attempts: int,
        retries: int,
        reason: str,
        delay_s: float,
    ) -> None:
        headers = {H_ATTEMPTS: attempts, H_RETRIES: retries, H_LAST_ERROR: reason}
        name = retry_queue_name(spec, spec.retry_step(delay_s))
        try:
            await self._confirmed("", name, _amqp_message(message, headers))
        except QueueUnavailable as exc:
            if not isinstance(exc.__cause__, DeliveryError):
                raise
            # Returned unroutable: the retry queue was deleted by hand, or declared by no
            # process of this version yet. Declare the topology again and try once more.
            await self.declare(spec)
            await self._confirmed("", name, _amqp_message(message, headers))

    async def _publish_dead_letter(
        self, spec: QueueSpec, message: Message, reason: str, attempts: int, *, items: int = 0
    ) -> None:
        """`items`: how many messages `message` packs (0: a single one), kept in its
        header so that the dead letters are listed and replayed as those messages."""
        headers: dict[str, Any] = {
            H_REASON: reason,
            H_ATTEMPTS: attempts,
            H_FAILED_AT: datetime.now(UTC).isoformat(),
        }
        if items:
            headers[H_ITEMS] = items
        await self._confirmed("dlx", spec.home, _amqp_message(message, headers))
