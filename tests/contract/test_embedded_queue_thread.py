"""Embedded mode's queue runs each transaction whole on a thread of its own
(`SqliteBroker._transaction`): a transaction that fails, or whose caller goes away, must
leave the one connection ready for the next."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fitboard.adapters.queue_sqlite import Beside, SqliteBroker
from fitboard.application.messaging.ports import Message
from fitboard.application.ports import QueueUnavailable

from .queue_adapters import bounded

# The fixtures are imported for pytest, which finds `broker` and `queue_file` by their names.
from .sqlite_queue_file import WORK, broker_fixture, queue_file_fixture, stored_messages  # noqa: F401


@bounded(30)
async def test_a_failed_transaction_is_rolled_back_and_the_next_one_runs(
    queue_file: Path, broker: SqliteBroker
) -> None:
    """A write of one failing statement fails as a whole (no savepoint): rolled back,
    so the connection is not left inside a transaction the next BEGIN would trip on."""
    with pytest.raises(QueueUnavailable):
        await broker.write_beside([Beside("INSERT INTO no_such_table VALUES (?)", [(1,)])])
    await broker.publish(Message("work.item", b"after", "m-after"))
    assert stored_messages(queue_file) == {"m-after"}


@bounded(30)
async def test_a_caller_that_goes_away_leaves_the_queue_working(
    queue_file: Path, broker: SqliteBroker
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
    stored = stored_messages(queue_file)
    assert "m-after" in stored
    depth = await broker.depth(WORK)
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
        await broker.depth(WORK)
