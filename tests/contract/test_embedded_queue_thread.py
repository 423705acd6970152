"""Embedded mode's queue runs each transaction whole on a thread of its own
(`SqliteBroker._transaction`): a transaction that fails, or whose caller goes away, must
leave the one connection ready for the next."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import pytest

from fitboard.adapters.queue_sqlite import Beside, SqliteBroker
from fitboard.application.messaging.ports import Message, QueueSpec
from fitboard.application.ports import QueueUnavailable

from .queue_adapters import bounded

SPEC = QueueSpec("queue-thread.work", ("work.#",), max_attempts=3)


@pytest.fixture(name="broker")
async def broker_fixture(tmp_path: Path) -> AsyncIterator[SqliteBroker]:
    broker = SqliteBroker(tmp_path / "queue.db")
    await broker.declare(SPEC)
    try:
        yield broker
    finally:
        await broker.close()


def _stored_messages(path: Path) -> set[str]:
    with closing(sqlite3.connect(path, timeout=30)) as db:
        return {row[0] for row in db.execute("SELECT message_id FROM messages")}


@bounded(30)
async def test_a_failed_transaction_is_rolled_back_and_the_next_one_runs(
    tmp_path: Path, broker: SqliteBroker
) -> None:
    """A write of one failing statement fails as a whole (no savepoint): rolled back,
    so the connection is not left inside a transaction the next BEGIN would trip on."""
    with pytest.raises(QueueUnavailable):
        await broker.write_beside([Beside("INSERT INTO no_such_table VALUES (?)", [(1,)])])
    await broker.publish(Message("work.item", b"after", "m-after"))
    assert _stored_messages(tmp_path / "queue.db") == {"m-after"}


@bounded(30)
async def test_a_caller_that_goes_away_leaves_the_queue_working(
    tmp_path: Path, broker: SqliteBroker
) -> None:
    """Callers cancelled at every point of their write: each write either happened or
    not, and the queue goes on (the thread finishes what it began)."""
    for turns in range(6):
        task = asyncio.create_task(broker.publish(Message("work.item", b"x", f"m-{turns}")))
        for _ in range(turns):
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await broker.publish(Message("work.item", b"after", "m-after"))
    stored = _stored_messages(tmp_path / "queue.db")
    assert "m-after" in stored
    depth = await broker.depth(SPEC)
    assert depth.ready == len(stored)


@bounded(30)
async def test_a_closed_queue_refuses_calls(broker: SqliteBroker) -> None:
    await broker.publish(Message("work.item", b"x", "m-before"))
    await broker.close()
    with pytest.raises(QueueUnavailable):
        await broker.ping()
    with pytest.raises(QueueUnavailable):
        await broker.publish(Message("work.item", b"x", "m-after"))
    with pytest.raises(QueueUnavailable):
        await broker.depth(SPEC)
