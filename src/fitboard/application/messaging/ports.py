"""The queue between the API and the workers: messages, queues, deliveries, the broker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from fitboard.application.ports import QueueUnavailable


@dataclass(frozen=True)
class Message:
    """A message on the exchange. `message_id` is the workout id for submissions.

    `partition_key` says which partition of a queue split in partitions the message goes
    to (`partitions.partition_of`): the athlete's id as a number, so that one athlete's
    messages go to one partition, in the order they were published. None: to the queue
    itself."""

    routing_key: str
    body: bytes
    message_id: str
    headers: Mapping[str, str] = field(default_factory=dict)
    partition_key: int | None = None


# How long a retried message waits before it is delivered again, step by step: the n-th
# retry of a message waits the n-th step, and every retry after the last waits the last.
# Fixed steps, because a broker may keep one permanent delay queue per step (RabbitMQ).
RETRY_DELAYS_S: tuple[float, ...] = (0.5, 2.0, 8.0, 30.0)


@dataclass(frozen=True)
class QueueSpec:
    """A named durable queue and the routing keys bound to it on the topic exchange.

    `max_attempts` bounds the failures that count (a bug, a message that kills its
    consumer); `retry_delays_s` are the waits a retry may ask for. A partition of another
    queue (`partitions.partitions_of`) names it as its `parent`: its retries wait in the
    parent's retry queues and come back to the parent, and its dead letters are the
    parent's."""

    name: str
    bindings: tuple[str, ...]
    max_attempts: int = 5
    retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S
    parent: str | None = None

    @property
    def home(self) -> str:
        """The queue whose retry queues and dead letters this one's are: its parent's, or
        its own."""
        return self.parent or self.name

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        delays = self.retry_delays_s
        if not delays or any(d <= 0 for d in delays) or list(delays) != sorted(set(delays)):
            raise ValueError("retry_delays_s must be positive and strictly increasing")

    def retry_step(self, delay_s: float) -> float:
        """The shortest step that waits at least `delay_s`, or the longest step."""
        return next((d for d in self.retry_delays_s if d >= delay_s), self.retry_delays_s[-1])


# The longest a batch waits for more deliveries once its first is in hand: long enough for
# the broker's next burst (sent as a previous batch is acked) to arrive, short enough that
# a lone workout is not held back noticeably.
BATCH_LINGER_S = 0.002


@dataclass(frozen=True)
class DeadLetter:
    message: Message
    queue: str
    reason: str
    attempts: int
    failed_at: datetime


@dataclass(frozen=True)
class QueueDepth:
    """What a queue holds, in the broker's messages: on RabbitMQ one may pack several of
    the port's (`queue_rabbitmq`, FITBOARD_QUEUE_ITEMS_PER_MESSAGE), and counts once."""

    ready: int  # waiting for a consumer
    retrying: int  # waiting out a retry delay
    dead_letters: int
    # None where the queue cannot tell: RabbitMQ does not count unacked messages for a
    # passive declare, and the SQLite queue does not know its consumers.
    in_flight: int | None
    consumers: int | None


class Delivery(Protocol):
    """One delivery of a message to a consumer. Exactly one of ack/retry/dead_letter is called."""

    @property
    def message(self) -> Message: ...

    @property
    def attempt(self) -> int:
        """1 on the first delivery; each counted retry and each redelivery after a crash
        adds one. A retry that does not count leaves it as it was."""
        ...

    @property
    def retries(self) -> int:
        """How many times this message was sent back with `retry`, counted or not."""
        ...

    async def ack(self) -> None: ...

    async def retry(self, reason: str, delay_s: float, *, counted: bool = True) -> None:
        """Deliver again after `delay_s` seconds, rounded to the spec's step at or above it
        (`QueueSpec.retry_step`). `counted` retries use up one of the message's attempts;
        the others (waiting for a dependency to return) do not. Never drops the message:
        if it cannot be put back now, it stays with the broker to be delivered again."""
        ...

    async def dead_letter(self, reason: str) -> None:
        """Move the message to the queue's dead letters with the reason."""
        ...


class MessageBroker(Protocol):
    async def declare(self, spec: QueueSpec) -> None:
        """Create the queue, its bindings and its dead-letter queue, if absent."""
        ...

    async def publish(self, message: Message, *, mandatory: bool = True) -> None:
        """Return only once the message is durably stored in every bound queue.

        Raises QueueUnavailable if the broker is down, blocked, or does not confirm within
        its bounded time, and — when `mandatory` — if no queue is bound to the routing key
        (a submission is never dropped silently). Events such as `workout.processed` are
        published with `mandatory=False`: having no subscriber yet is normal for them.

        Publishes made concurrently in one process share one durable write (group
        commit); each returns only once its own message is stored, and a write that
        fails raises in exactly the publishes it held."""
        ...

    async def publish_many(
        self, messages: Sequence[Message], *, mandatory: bool = True
    ) -> list[QueueUnavailable | None]:
        """Publish `messages` in one durable write (one transaction, one confirm wait).

        One outcome per message, in order: None once that message is durably stored in
        every bound queue, else the QueueUnavailable that says why it is not (for the
        reasons `publish` raises). A message with an outcome of None is stored whatever
        happened to the others; one with an error may or may not be (a confirm that did
        not come in time), as with `publish`."""
        ...

    def consume(self, spec: QueueSpec, prefetch: int) -> AsyncIterator[Delivery]:
        """Deliveries of the queue, about `prefetch` of them received and not settled at a
        time (the broker hands out no more until some are settled).

        On SQLite, never more than `prefetch`. On RabbitMQ the broker's prefetch counts its
        own messages, each of which may carry several deliveries (as many as its publisher
        packed: FITBOARD_QUEUE_ITEMS_PER_MESSAGE), so the consumer fits its count of them
        to the deliveries they have been carrying (`queue_rabbitmq._Session`). What holds
        there: never more than `prefetch` of the broker's messages (so never more than
        `prefetch` deliveries of single messages), and one at least, whatever it carries;
        while the packing stays alike, no more than about twice `prefetch` deliveries
        (and, when the queue has them, no fewer than about two thirds of it); when the
        queue turns from smaller messages to fuller ones, up to its count of the fuller
        ones before it fits again.

        Messages not acked when the consumer dies are delivered again. A consumer whose
        broker is out of reach, when it starts or later, waits for it to come back."""
        ...

    def consume_batches(
        self, spec: QueueSpec, prefetch: int, max_batch: int
    ) -> AsyncIterator[Sequence[Delivery]]:
        """`consume`, in batches of what the broker has ready: waits for a first delivery,
        then takes whatever else is ready (at most `max_batch`, and at most `BATCH_LINGER_S`
        more of waiting for it), in delivery order. About `prefetch` deliveries received
        and not settled at a time (see `consume` for what holds on RabbitMQ).

        A consumer may hold several batches at once and settle them in any order."""
        ...

    async def ack_many(self, deliveries: Sequence[Delivery]) -> None:
        """`ack` each of `deliveries` (taken from this broker's `consume_batches`, none
        settled yet) in one write."""
        ...

    async def dead_letters(self, spec: QueueSpec, limit: int = 100) -> list[DeadLetter]: ...

    async def replay_dead_letters(
        self, spec: QueueSpec, message_ids: Sequence[str] | None = None
    ) -> int:
        """Put dead letters (all, or those ids) back on the queue with a fresh attempt count;
        returns how many."""
        ...

    async def depth(self, spec: QueueSpec) -> QueueDepth:
        """What the queue holds now, without taking or touching any message."""
        ...

    async def exists(self, spec: QueueSpec) -> bool:
        """Whether the queue has been declared (by any process); QueueUnavailable if the
        broker cannot be asked."""
        ...

    async def ping(self) -> None:
        """Raise QueueUnavailable if the broker cannot be reached."""
        ...

    async def close(self) -> None: ...
