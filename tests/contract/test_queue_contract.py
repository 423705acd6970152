"""The `MessageBroker` contract: the same assertions against the SQLite queue and RabbitMQ."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from fitboard.adapters.queue_sqlite import SqliteBroker, topic_matches
from fitboard.application.messaging.ports import Delivery, Message, QueueSpec
from fitboard.application.ports import QueueUnavailable
from tests.sqlite_refusals import refuse_messages_holding

from .queue_adapters import WAIT_S, QueueHarness, bounded, queues_fixture, wait_for_dead_letters

__all__ = ["queues_fixture"]


def submitted(n: int = 0, **headers: str) -> Message:
    return Message(
        routing_key="workout.submitted",
        body=f'{{"n": {n}}}'.encode(),
        message_id=str(uuid.uuid4()),
        headers=headers,
    )


@bounded()
async def test_published_message_is_delivered_once_and_gone_after_ack(
    queues: QueueHarness,
) -> None:
    spec = await queues.declare("workouts", ("workout.submitted",))
    message = submitted(1, source="api")
    await queues.broker.publish(message)

    consumer = queues.consumer(spec)
    delivery = await consumer.next()
    assert delivery.message == message
    assert delivery.attempt == 1
    await delivery.ack()
    assert await consumer.nothing_within(0.5)

    # Acked means gone: a later consumer does not see it again either.
    await consumer.stop()
    assert await queues.consumer(spec).nothing_within(0.5)


@bounded()
async def test_a_queue_exists_once_declared(queues: QueueHarness) -> None:
    spec = await queues.declare("workouts", ("workout.submitted",))
    assert await queues.broker.exists(spec)
    never = QueueSpec(f"{spec.name}.p0", ("workout.submitted.p0",))
    assert not await queues.broker.exists(never)
    # Looking made nothing: still absent, and the broker still answers.
    assert not await queues.broker.exists(never)
    assert await queues.broker.exists(spec)


@bounded()
async def test_unroutable_publish_raises_unless_not_mandatory(queues: QueueHarness) -> None:
    await queues.declare("workouts", ("workout.submitted",))
    stray = Message(routing_key="nobody.listens", body=b"{}", message_id="m-1")
    with pytest.raises(QueueUnavailable):
        await queues.broker.publish(stray)
    # Events with no subscriber yet are allowed to go nowhere.
    await queues.broker.publish(stray, mandatory=False)


@bounded()
async def test_unacked_message_is_redelivered_after_the_consumer_goes_away(
    queues: QueueHarness,
) -> None:
    spec = await queues.declare("workouts", ("workout.submitted",))
    message = submitted()
    await queues.broker.publish(message)

    crashed = queues.consumer(spec)
    first = await crashed.next()
    assert first.attempt == 1
    await crashed.stop()

    survivor = queues.consumer(spec, broker=queues.open_broker())
    again = await survivor.next()
    assert again.message == message
    assert again.attempt == 2
    await again.ack()


@bounded()
async def test_retry_delivers_again_after_the_delay_with_the_next_attempt(
    queues: QueueHarness,
) -> None:
    spec = await queues.declare("workouts", ("workout.submitted",))
    message = submitted()
    await queues.broker.publish(message)
    consumer = queues.consumer(spec)

    first = await consumer.next()
    retried_at = time.monotonic()
    await first.retry("database down", delay_s=1.0)
    assert await consumer.nothing_within(0.6)

    second = await consumer.next()
    assert time.monotonic() - retried_at >= 0.9
    assert second.message == message
    assert second.attempt == 2
    await second.retry("still down", delay_s=0)
    third = await consumer.next()
    assert third.attempt == 3
    await third.ack()


@bounded()
async def test_a_retry_that_does_not_count_keeps_the_attempt(queues: QueueHarness) -> None:
    spec = await queues.declare(
        "workouts", ("workout.submitted",), max_attempts=2, retry_delays_s=(0.05, 0.1)
    )
    message = submitted()
    await queues.broker.publish(message)
    consumer = queues.consumer(spec)

    first = await consumer.next()
    assert (first.attempt, first.retries) == (1, 0)
    await first.retry("database down", delay_s=0.05, counted=False)
    # Far more uncounted retries than max_attempts allows counted ones: none use it up.
    for retries in range(1, 6):
        again = await consumer.next()
        assert again.message == message
        assert (again.attempt, again.retries) == (1, retries)
        await again.retry("database down", delay_s=0.1, counted=False)
    counted = await consumer.next()
    assert (counted.attempt, counted.retries) == (1, 6)
    await counted.retry("a bug", delay_s=0.05)
    last = await consumer.next()
    assert (last.attempt, last.retries) == (2, 7)
    await last.ack()
    assert await queues.broker.dead_letters(spec) == []


@bounded()
async def test_a_retry_never_dead_letters_by_itself(queues: QueueHarness) -> None:
    """Giving up is the retry policy's call (application/retrying.py), not the queue's:
    a counted retry past max_attempts is still delivered again."""
    spec = await queues.declare(
        "workouts", ("workout.submitted",), max_attempts=1, retry_delays_s=(0.05,)
    )
    message = submitted()
    await queues.broker.publish(message)
    consumer = queues.consumer(spec)
    await (await consumer.next()).retry("a bug", delay_s=0.05)
    second = await consumer.next()
    assert (second.message, second.attempt) == (message, 2)
    await second.ack()
    assert await queues.broker.dead_letters(spec) == []


@bounded()
async def test_every_waiting_message_comes_back(queues: QueueHarness) -> None:
    """A crowd of messages waiting at once, on every step, all return: none is dropped
    by the place where it waits."""
    steps = (0.05, 0.2, 0.5)
    spec = await queues.declare("workouts", ("workout.submitted",), retry_delays_s=steps)
    published = [submitted(n) for n in range(60)]
    for message in published:
        await queues.broker.publish(message)
    consumer = queues.consumer(spec, prefetch=20)
    sent_back = 0
    returned: list[str] = []
    while len(returned) < len(published):
        delivery = await consumer.next()
        if delivery.retries == 0:
            await delivery.retry("redis down", delay_s=steps[sent_back % len(steps)], counted=False)
            sent_back += 1
        else:
            assert delivery.retries == 1
            returned.append(delivery.message.message_id)
            await delivery.ack()
    assert sent_back == len(published)
    assert sorted(returned) == sorted(m.message_id for m in published)
    assert await consumer.nothing_within(0.6)


@bounded()
async def test_consumer_crashing_on_every_attempt_ends_in_dead_letters(
    queues: QueueHarness,
) -> None:
    spec = await queues.declare("workouts", ("workout.submitted",), max_attempts=2)
    message = submitted()
    await queues.broker.publish(message)

    for attempt in (1, 2):
        crashing = queues.consumer(spec)
        delivery = await crashing.next()
        assert delivery.attempt == attempt
        await crashing.stop()

    # The next consumer never sees it: it is out of attempts.
    consumer = queues.consumer(spec)
    await wait_for_dead_letters(queues, spec, 1)
    [dead] = await queues.broker.dead_letters(spec)
    assert dead.message == message
    assert dead.attempts == 2
    assert "crashed or hung" in dead.reason
    assert await consumer.nothing_within(0.5)


@bounded()
async def test_dead_letter_moves_the_message_at_once(queues: QueueHarness) -> None:
    spec = await queues.declare("workouts", ("workout.submitted",))
    message = submitted()
    await queues.broker.publish(message)
    consumer = queues.consumer(spec)

    delivery = await consumer.next()
    await delivery.dead_letter("distance is negative")

    await wait_for_dead_letters(queues, spec, 1)
    [dead] = await queues.broker.dead_letters(spec)
    assert dead.message == message
    assert dead.reason == "distance is negative"
    assert dead.attempts == 1
    assert await consumer.nothing_within(0.5)


@bounded()
async def test_dead_letters_are_listed_without_loss_and_replayed(queues: QueueHarness) -> None:
    spec = await queues.declare("workouts", ("workout.submitted",))
    messages = [submitted(n) for n in range(3)]
    for message in messages:
        await queues.broker.publish(message)
    consumer = queues.consumer(spec, prefetch=3)
    for _ in messages:
        await (await consumer.next()).dead_letter("bad input")
    await wait_for_dead_letters(queues, spec, 3)

    # Listing twice shows the same: looking consumes nothing.
    listed = await queues.broker.dead_letters(spec)
    assert {d.message.message_id for d in listed} == {m.message_id for m in messages}
    again = await queues.broker.dead_letters(spec)
    assert {d.message.message_id for d in again} == {m.message_id for m in messages}
    assert len(await queues.broker.dead_letters(spec, limit=2)) == 2

    chosen = messages[1]
    assert await queues.broker.replay_dead_letters(spec, [chosen.message_id]) == 1
    replayed = await consumer.next()
    assert replayed.message == chosen
    assert replayed.attempt == 1
    await replayed.ack()
    left = await queues.broker.dead_letters(spec)
    assert {d.message.message_id for d in left} == {messages[0].message_id, messages[2].message_id}

    assert await queues.broker.replay_dead_letters(spec) == 2
    rest = {(await consumer.next()).message.message_id for _ in range(2)}
    assert rest == {messages[0].message_id, messages[2].message_id}
    assert await queues.broker.dead_letters(spec) == []


@bounded()
async def test_prefetch_bounds_unacked_deliveries(queues: QueueHarness) -> None:
    spec = await queues.declare("workouts", ("workout.submitted",))
    for n in range(3):
        await queues.broker.publish(submitted(n))
    consumer = queues.consumer(spec, prefetch=2)

    held = [await consumer.next(), await consumer.next()]
    assert await consumer.nothing_within(0.6)
    await held[0].ack()
    third = await consumer.next()
    assert third.message.message_id not in {d.message.message_id for d in held}
    await held[1].ack()
    await third.ack()


@bounded()
async def test_competing_consumers_get_distinct_messages(queues: QueueHarness) -> None:
    spec = await queues.declare("workouts", ("workout.submitted",))
    published = [submitted(n) for n in range(10)]
    consumers = [
        queues.consumer(spec, prefetch=1),
        queues.consumer(spec, prefetch=1, broker=queues.open_broker()),
    ]
    received: list[list[str]] = [[], []]
    all_received = asyncio.Event()

    async def work(index: int) -> None:
        while True:
            delivery = await consumers[index].next()
            received[index].append(delivery.message.message_id)
            if sum(map(len, received)) >= len(published):
                all_received.set()
            # Holding each message a moment lets the other consumer take the next one.
            await asyncio.sleep(0.05)
            await delivery.ack()

    workers = [asyncio.create_task(work(i)) for i in range(2)]
    try:
        for message in published:
            await queues.broker.publish(message)
        async with asyncio.timeout(WAIT_S):
            await all_received.wait()
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    everything = received[0] + received[1]
    assert sorted(everything) == sorted(m.message_id for m in published)
    assert received[0], "the first consumer got nothing"
    assert received[1], "the second consumer got nothing"


@bounded()
async def test_one_publish_reaches_every_bound_queue(queues: QueueHarness) -> None:
    processing = await queues.declare("workouts", ("workout.submitted",))
    audit = await queues.declare("audit", ("workout.*",))
    everything = await queues.declare("everything", ("#",))
    reports = await queues.declare("reports", ("workout.processed",))
    message = submitted()
    await queues.broker.publish(message)

    for spec in (processing, audit, everything):
        delivery = await queues.consumer(spec).next()
        assert delivery.message == message
        await delivery.ack()
    assert await queues.consumer(reports).nothing_within(0.5)


# --------------------------------------------------------------------------- SQLite only


@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        ("workout.submitted", "workout.submitted", True),
        ("workout.*", "workout.submitted", True),
        ("workout.*", "workout.submitted.late", False),
        ("workout.#", "workout", True),
        ("workout.#", "workout.a.b", True),
        ("#", "anything.at.all", True),
        ("*.submitted", "workout.submitted", True),
        ("#.submitted", "workout.submitted", True),
        ("#.processed", "workout.submitted", False),
        ("workout.submitted", "workout.processed", False),
    ],
)
def test_topic_matching_follows_amqp(pattern: str, key: str, matches: bool) -> None:
    assert topic_matches(pattern, key) is matches


@bounded()
async def test_sqlite_lease_expires_for_a_hung_consumer(tmp_path: Path) -> None:
    """A consumer that hangs (holds the message, never settles, never goes away) loses its
    lease after the visibility timeout; once out of attempts the message is dead-lettered."""
    broker = SqliteBroker(tmp_path / "queue.db", visibility_timeout_s=0.3, poll_interval_s=0.05)
    spec = QueueSpec("workouts", ("workout.submitted",), max_attempts=2)
    try:
        async with asyncio.timeout(WAIT_S):
            await broker.declare(spec)
            message = submitted()
            await broker.publish(message)
            stream = broker.consume(spec, prefetch=5)
            first = await anext(stream)
            second = await anext(stream)  # the same message, its first lease expired
            assert (first.message, first.attempt) == (message, 1)
            assert (second.message, second.attempt) == (message, 2)

            # The hung first delivery's late ack must not remove the redelivered copy.
            await first.ack()
            assert await broker.dead_letters(spec) == []
            # The consumer keeps polling; its lease query buries the twice-expired lease
            # instead of delivering it a third time.
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(1.0):
                    await anext(stream)
            [dead] = await broker.dead_letters(spec)
            assert dead.message == message
            assert dead.reason == "lease expired 2 times (consumer crashed or hung)"
            assert dead.attempts == 2
    finally:
        await broker.close()


@bounded()
async def test_sqlite_publish_is_durable_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    spec = QueueSpec("workouts", ("workout.submitted",))
    message = submitted()
    writer = SqliteBroker(path)
    await writer.declare(spec)
    await writer.publish(message)
    await writer.close()

    reader = SqliteBroker(path)
    stream = reader.consume(spec, prefetch=1)
    try:
        async with asyncio.timeout(WAIT_S):
            delivery = await anext(stream)
        assert delivery.message == message
        await delivery.ack()
    finally:
        await stream.aclose()
        await reader.close()


@bounded()
async def test_sqlite_leases_of_a_dead_consumer_can_be_taken_back_at_once(
    tmp_path: Path,
) -> None:
    """A consumer killed outright (nothing settled, nothing closed) leaves its lease until
    the visibility timeout; the process that knows it is the only consumer takes it back
    at once, and the redelivery counts the attempt the dead one spent."""
    path = tmp_path / "queue.db"
    spec = QueueSpec("workouts", ("workout.submitted",))
    dead = SqliteBroker(path, visibility_timeout_s=3600)
    survivor = SqliteBroker(path, visibility_timeout_s=3600, poll_interval_s=0.05)
    message = submitted()
    try:
        await dead.declare(spec)
        await dead.publish(message)
        held = await anext(dead.consume(spec, prefetch=1))  # never settled nor closed
        assert held.attempt == 1

        assert await survivor.expire_leases() == 1
        stream = survivor.consume(spec, prefetch=1)
        async with asyncio.timeout(WAIT_S):
            again = await anext(stream)
        assert (again.message, again.attempt) == (message, 2)
        await again.ack()
        await stream.aclose()
        assert await survivor.expire_leases() == 0
    finally:
        await survivor.close()
        await dead.close()


# ---------------------------------------------------------------- group commit


async def _received(queues: QueueHarness, spec: QueueSpec, count: int) -> list[Message]:
    """The next `count` messages of the queue, in delivery order, each acked."""
    consumer = queues.consumer(spec)
    messages: list[Message] = []
    for _ in range(count):
        delivery = await consumer.next()
        messages.append(delivery.message)
        await delivery.ack()
    assert await consumer.nothing_within(0.5)
    await consumer.stop()
    return messages


@bounded()
async def test_publish_many_stores_every_message_in_order_before_it_returns(
    queues: QueueHarness,
) -> None:
    spec = await queues.declare("workouts", ("workout.submitted",))
    messages = [submitted(n) for n in range(25)]
    # Another client that is closed right after: what it acknowledged must outlive it.
    publisher = queues.open_broker()
    assert await publisher.publish_many(messages) == [None] * 25
    await publisher.close()
    assert await publisher.publish_many([submitted()]) != [None]  # closed: nothing stored

    assert await _received(queues, spec, 25) == messages


@bounded()
async def test_concurrent_publishes_are_each_stored_in_the_order_they_were_made(
    queues: QueueHarness,
) -> None:
    spec = await queues.declare("workouts", ("workout.submitted",))
    publisher = queues.open_broker()
    messages = [submitted(n) for n in range(40)]
    # Made in one turn of the event loop, so they share writes (group commit).
    await asyncio.gather(*(publisher.publish(message) for message in messages))
    await publisher.close()

    assert await _received(queues, spec, 40) == messages


@bounded()
async def test_publish_many_refuses_only_the_unroutable_messages(queues: QueueHarness) -> None:
    spec = await queues.declare("workouts", ("workout.submitted",))
    first, second = submitted(1), submitted(2)
    stray = Message(routing_key="nobody.listens", body=b"{}", message_id="m-stray")

    outcomes = await queues.broker.publish_many([first, stray, second])
    assert outcomes[0] is None
    assert outcomes[2] is None
    assert isinstance(outcomes[1], QueueUnavailable)
    # A concurrent unroutable publish fails alone too; the rest of its group is stored.
    third = submitted(3)
    results = await asyncio.gather(
        queues.broker.publish(stray), queues.broker.publish(third), return_exceptions=True
    )
    assert isinstance(results[0], QueueUnavailable)
    assert results[1] is None
    # Not mandatory: an event nobody subscribes to yet goes nowhere without an error.
    assert await queues.broker.publish_many([stray], mandatory=False) == [None]
    assert await queues.broker.publish_many([]) == []

    assert await _received(queues, spec, 3) == [first, second, third]


@bounded()
async def test_sqlite_a_failed_write_fails_every_publish_of_its_group_and_only_those(
    tmp_path: Path,
) -> None:
    path = tmp_path / "queue.db"
    spec = QueueSpec("workouts", ("workout.submitted",))
    broker = SqliteBroker(path, poll_interval_s=0.05)
    try:
        await broker.declare(spec)
        refuse_messages_holding(path, "poison")
        poison = Message(
            routing_key="workout.submitted", body=b'{"poison": 1}', message_id="m-poison"
        )
        before, after = submitted(1), submitted(2)

        # One group (made in one turn): its transaction fails, so every caller hears it.
        results = await asyncio.gather(
            broker.publish(before), broker.publish(poison), return_exceptions=True
        )
        assert all(isinstance(result, QueueUnavailable) for result in results)
        outcomes = await broker.publish_many([before, poison])
        assert all(isinstance(outcome, QueueUnavailable) for outcome in outcomes)
        # The next group is written.
        await broker.publish(after)

        stream = broker.consume(spec, prefetch=1)
        async with asyncio.timeout(WAIT_S):
            delivery = await anext(stream)
        assert delivery.message == after
        await delivery.ack()
        assert (await broker.depth(spec)).ready == 0
        await stream.aclose()
    finally:
        await broker.close()


async def next_batch(batches: AsyncIterator[Sequence[Delivery]]) -> Sequence[Delivery]:
    async with asyncio.timeout(WAIT_S):
        return await anext(batches)


@bounded()
async def test_batches_hold_what_is_ready_in_order_and_one_ack_settles_each(
    queues: QueueHarness,
) -> None:
    spec = await queues.declare("workouts", ("workout.submitted",))
    messages = [submitted(n) for n in range(7)]
    assert all(o is None for o in await queues.broker.publish_many(messages))

    batches = queues.broker.consume_batches(spec, prefetch=6, max_batch=3)
    received: list[Message] = []
    sizes: list[int] = []
    try:
        while len(received) < len(messages):
            batch = await next_batch(batches)
            sizes.append(len(batch))
            received += [d.message for d in batch]
            await queues.broker.ack_many(batch)
    finally:
        await batches.aclose()  # type: ignore[attr-defined]
    assert received == messages
    assert max(sizes) <= 3
    # Several at a time when several are ready (the first burst may not be all there yet).
    assert max(sizes) > 1
    # Acked means gone.
    assert await queues.consumer(spec).nothing_within(0.5)


@bounded()
async def test_acking_a_later_batch_leaves_an_earlier_unsettled_one_with_the_broker(
    queues: QueueHarness,
) -> None:
    spec = await queues.declare("workouts", ("workout.submitted",))
    first, second = submitted(1), submitted(2)
    # One after the other: published together, RabbitMQ would carry them in one AMQP
    # message (queue_rabbitmq's packing), settled as one.
    await queues.broker.publish(first)
    await queues.broker.publish(second)

    batches = queues.broker.consume_batches(spec, prefetch=2, max_batch=1)
    try:
        (held,) = await next_batch(batches)
        (later,) = await next_batch(batches)
        assert (held.message, later.message) == (first, second)
        # RabbitMQ's multiple ack of `later` would settle `held` with it: it must not.
        await queues.broker.ack_many([later])
    finally:
        # A crash, as the broker sees it: `held` was never settled.
        await batches.aclose()  # type: ignore[attr-defined]
    survivor = queues.consumer(spec, broker=queues.open_broker())
    again = await survivor.next()
    assert again.message == first
    await again.ack()
    assert await survivor.nothing_within(0.5)
