"""Embedded mode's queue leases without an fsync of their own (a lost lease is harmless:
the message is delivered again), and every other write stays durable: the connection is
back to synchronous=FULL after each lease, whether it worked or failed."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from fitboard.adapters import queue_sqlite
from fitboard.adapters.queue_sqlite import SqliteBroker
from fitboard.application.messaging.ports import Message
from fitboard.application.ports import QueueUnavailable

from .queue_adapters import bounded

# The fixtures are imported for pytest, which finds `broker` and `queue_file` by their names.
from .sqlite_queue_file import WORK, broker_fixture, queue_file_fixture  # noqa: F401

FULL = 2  # what PRAGMA synchronous reads for FULL


async def _synchronous(broker: SqliteBroker) -> int:
    db = await broker._connection()
    row = await broker._run(lambda: db.execute("PRAGMA synchronous").fetchone())
    return int(row[0])


async def _traced(broker: SqliteBroker, statements: list[str]) -> None:
    """Record every statement the broker's connection runs into `statements`."""
    db = await broker._connection()
    await broker._run(lambda: db.set_trace_callback(statements.append))


@bounded(30)
async def test_a_lease_commits_unsynced_and_everything_else_synced(broker: SqliteBroker) -> None:
    statements: list[str] = []
    await _traced(broker, statements)
    await broker.publish(Message("work.item", b"x", "m-1"))
    stream = broker.consume(WORK, prefetch=1)
    try:
        delivery = await anext(stream)
        await delivery.ack()
    finally:
        await stream.aclose()

    switches = [s for s in statements if s.startswith("PRAGMA synchronous")]
    begins = [i for i, s in enumerate(statements) if s == "BEGIN IMMEDIATE"]
    leases = [i for i, s in enumerate(statements) if s.lstrip().startswith("UPDATE messages")]
    # Three transactions (publish, lease, ack); only the lease's is between the switches.
    assert len(begins) == 3
    assert switches == ["PRAGMA synchronous=NORMAL", "PRAGMA synchronous=FULL"]
    normal = statements.index("PRAGMA synchronous=NORMAL")
    full = statements.index("PRAGMA synchronous=FULL")
    assert [i for i in begins if normal < i < full] == [begins[1]]
    assert normal < leases[0] < full
    assert await _synchronous(broker) == FULL


@bounded(30)
async def test_a_lease_that_fails_leaves_commits_synced(
    broker: SqliteBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    await broker.publish(Message("work.item", b"x", "m-1"))
    monkeypatch.setattr(queue_sqlite, "_LEASE", "UPDATE no_such_table SET x = 1")
    stream = broker.consume(WORK, prefetch=1)
    try:
        with pytest.raises(QueueUnavailable):
            await anext(stream)
    finally:
        await stream.aclose()
    assert await _synchronous(broker) == FULL


@bounded(30)
async def test_a_lease_loses_nothing_a_clean_reopen_would_see(queue_file: Path) -> None:
    """Unsynced is not uncommitted: another connection, and the file reopened, see it."""
    broker = SqliteBroker(queue_file)
    try:
        await broker.declare(WORK)
        await broker.publish(Message("work.item", b"x", "m-1"))
        stream = broker.consume(WORK, prefetch=1)
        delivery = await anext(stream)
        with closing(sqlite3.connect(queue_file, timeout=30)) as db:
            (token,) = db.execute("SELECT lease_token FROM messages").fetchone()
        assert token == delivery._token
        await stream.aclose()
    finally:
        await broker.close()
