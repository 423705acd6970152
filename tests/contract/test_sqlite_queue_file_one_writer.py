"""Embedded mode's queue file has one writer: the in-flight markers and the queue's acks
ride the queue's publish writes (`SqliteBroker.write_beside`). What each caller is told
must still be exactly what was stored."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from contextlib import closing
from pathlib import Path

import pytest

from fitboard.adapters.inflight_sqlite import SqliteInFlight
from fitboard.adapters.queue_sqlite import Beside, SqliteBroker
from fitboard.application.messaging.ports import Message
from fitboard.application.ports import QueueUnavailable
from tests.sqlite_refusals import refuse_inserts, refuse_messages_holding

from .queue_adapters import bounded

# The fixtures are imported for pytest, which finds `broker`, `queue_file` and `inflight` by
# their names.
from .sqlite_queue_file import (  # noqa: F401 (fixtures, found by name)
    WORK,
    broker_fixture,
    inflight_fixture,
    queue_file_fixture,
    stored_messages,
)


def _message(n: int) -> Message:
    return Message("work.item", f"body {n}".encode(), message_id=f"m{n}")


@bounded(30)
async def test_marks_and_clears_beside_the_queue_are_stored(inflight: SqliteInFlight) -> None:
    first, second, owner = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await inflight.mark(first, owner)
    await inflight.mark_many([(second, owner)])
    assert await inflight.owner(first) == owner
    assert await inflight.owner(second) == owner
    assert await inflight.oldest_marked_at() is not None
    await inflight.clear_many([first])
    assert await inflight.owner(first) is None
    assert await inflight.owner(second) == owner


@bounded(30)
async def test_marks_and_publishes_made_together_share_one_transaction(
    queue_file: Path, broker: SqliteBroker, inflight: SqliteInFlight
) -> None:
    """A mark made while publishes wait is written with them, and each is answered."""
    marks = [(uuid.uuid4(), uuid.uuid4()) for _ in range(5)]
    results = await asyncio.gather(
        *(broker.publish(_message(n)) for n in range(5)),
        *(inflight.mark(workout, owner) for workout, owner in marks),
    )
    assert results == [None] * 10
    assert stored_messages(queue_file) == {f"m{n}" for n in range(5)}
    for workout, owner in marks:
        assert await inflight.owner(workout) == owner


@bounded(30)
async def test_a_failing_statement_fails_only_its_caller(
    queue_file: Path, broker: SqliteBroker, inflight: SqliteInFlight
) -> None:
    """A statement beside publishes that fails is refused to its caller alone: the
    publishes and the other statements of the same write are stored."""
    await inflight.mark(uuid.uuid4(), uuid.uuid4())  # creates the table
    refused_owner = uuid.uuid4()
    refuse_inserts(queue_file, "inflight_workouts", f"NEW.user_id = '{refused_owner}'")
    kept = uuid.uuid4()
    kept_owner = uuid.uuid4()
    refused_row = Beside(
        "INSERT INTO inflight_workouts (workout_id, user_id, marked_at) VALUES (?, ?, 0)",
        [(str(uuid.uuid4()), str(refused_owner))],
    )
    results = await asyncio.gather(
        broker.publish(_message(1)),
        broker.write_beside([refused_row]),
        inflight.mark(kept, kept_owner),
        return_exceptions=True,
    )
    assert results[0] is None
    assert isinstance(results[1], QueueUnavailable)
    assert results[2] is None
    assert stored_messages(queue_file) == {"m1"}
    assert await inflight.owner(kept) == kept_owner
    with closing(sqlite3.connect(queue_file, timeout=30)) as db:
        (refused,) = db.execute(
            "SELECT count(*) FROM inflight_workouts WHERE user_id = ?", (str(refused_owner),)
        ).fetchone()
    assert refused == 0


@bounded(30)
async def test_a_failed_publish_fails_only_the_publishes_of_its_write(
    queue_file: Path, broker: SqliteBroker, inflight: SqliteInFlight
) -> None:
    """Publishes refused by the disk fail their callers (503), and the marks sharing the
    transaction are still stored: the mark of a workout answered 202 earlier must not be
    lost because another request's publish failed (it would poll as unknown)."""
    await inflight.mark(uuid.uuid4(), uuid.uuid4())  # creates the table
    refuse_messages_holding(queue_file, "poison")
    kept, owner = uuid.uuid4(), uuid.uuid4()
    poison = Message("work.item", b"poison", message_id="m-poison")
    # Made in one turn, so they share one write (the mark as the in-flight table's own
    # group write hands it to the queue).
    mark = Beside(
        "INSERT INTO inflight_workouts (workout_id, user_id, marked_at) VALUES (?, ?, ?)",
        [(str(kept), str(owner), time.time())],
    )
    results = await asyncio.gather(
        broker.publish(_message(1)),
        broker.publish(poison),
        broker.write_beside([mark]),
        return_exceptions=True,
    )
    assert isinstance(results[0], QueueUnavailable)
    assert isinstance(results[1], QueueUnavailable)
    assert results[2] is None
    assert stored_messages(queue_file) == set()
    assert await inflight.owner(kept) == owner
    # The next write is not held back by the failed one.
    await broker.publish(_message(2))
    assert stored_messages(queue_file) == {"m2"}


@bounded(30)
async def test_acks_ride_the_publish_writes(queue_file: Path, broker: SqliteBroker) -> None:
    """An ack deletes exactly the acked messages, written with publishes made meanwhile."""
    await broker.publish_many([_message(n) for n in range(3)])
    batches = broker.consume_batches(WORK, prefetch=10, max_batch=10)
    try:
        batch = await anext(batches)
        assert sorted(d.message.message_id for d in batch) == ["m0", "m1", "m2"]
        await asyncio.gather(broker.ack_many(batch[:2]), broker.publish(_message(3)))
        assert stored_messages(queue_file) == {"m2", "m3"}
        with pytest.raises(RuntimeError):
            await batch[0].ack()  # settled once only
    finally:
        await batches.aclose()


@bounded(30)
async def test_writes_beside_a_closed_queue_are_refused(
    broker: SqliteBroker, inflight: SqliteInFlight
) -> None:
    await broker.close()
    with pytest.raises(QueueUnavailable):
        await inflight.mark(uuid.uuid4(), uuid.uuid4())
    with pytest.raises(QueueUnavailable):
        await inflight.clear_many([uuid.uuid4()])


@bounded(30)
async def test_a_lease_takes_the_ready_messages_in_publish_order(
    queue_file: Path, broker: SqliteBroker
) -> None:
    """Ready messages are leased oldest first, whenever each became ready: a message
    released for a retry that is due again goes before later ones, one still waiting is
    skipped."""
    await broker.publish_many([_message(n) for n in range(4)])
    with closing(sqlite3.connect(queue_file, timeout=30)) as db:
        # m0 became ready last (a retry that is due), m1 waits for a retry in the future.
        db.execute("UPDATE messages SET available_at = available_at + 0.5 WHERE message_id = 'm0'")
        db.execute("UPDATE messages SET available_at = 1e12 WHERE message_id = 'm1'")
        db.commit()
    await asyncio.sleep(0.6)
    batches = broker.consume_batches(WORK, prefetch=2, max_batch=2)
    try:
        batch = await anext(batches)
        assert [d.message.message_id for d in batch] == ["m0", "m2"]
    finally:
        await batches.aclose()


@bounded(30)
async def test_a_queue_file_made_before_the_lease_indexes_gets_them(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    first = SqliteBroker(path)
    await first.declare(WORK)
    await first.publish(_message(1))
    await first.close()
    with closing(sqlite3.connect(path, timeout=30)) as db:
        db.execute("DROP INDEX messages_in_order")
        db.execute("DROP INDEX messages_leased")
        db.commit()
    again = SqliteBroker(path)
    try:
        batches = again.consume_batches(WORK, prefetch=1, max_batch=1)
        (delivery,) = await anext(batches)
        assert delivery.message.message_id == "m1"
        await delivery.ack()
        await batches.aclose()
    finally:
        await again.close()
    with closing(sqlite3.connect(path, timeout=30)) as db:
        names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"messages_in_order", "messages_leased"} <= names
