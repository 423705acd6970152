"""Embedded mode's queue (`SqliteBroker`) on a file of the test's own, for the tests of how
it writes: the fixtures `queue_file`, `broker` (the queue WORK declared on that file) and
`inflight` (in-flight marks written in the broker's transactions), and the messages the
file holds, read beside the broker.

A test module imports the fixture functions it uses and those they use (`broker` needs
`queue_file`, `inflight` needs both):
pytest finds a fixture by the name it is registered under (`name=`) among the module's
globals."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import pytest

from fitboard.adapters.inflight_sqlite import SqliteInFlight
from fitboard.adapters.queue_sqlite import SqliteBroker
from fitboard.application.messaging.ports import QueueSpec

WORK = QueueSpec("work", ("work.#",), max_attempts=3)


@pytest.fixture(name="queue_file")
def queue_file_fixture(tmp_path: Path) -> Path:
    """Where `broker` keeps its queue (the test's own directory)."""
    return tmp_path / "queue.db"


@pytest.fixture(name="broker")
async def broker_fixture(queue_file: Path) -> AsyncIterator[SqliteBroker]:
    """The queue on `queue_file`, WORK declared; closed after the test."""
    broker = SqliteBroker(queue_file)
    await broker.declare(WORK)
    try:
        yield broker
    finally:
        await broker.close()


@pytest.fixture(name="inflight")
async def inflight_fixture(queue_file: Path, broker: SqliteBroker) -> AsyncIterator[SqliteInFlight]:
    """In-flight marks on `queue_file`, written in the transactions of `broker`'s publishes."""
    inflight = SqliteInFlight(queue_file, writes_with=broker)
    try:
        yield inflight
    finally:
        await inflight.close()


def stored_messages(queue_file: Path) -> set[str]:
    """The ids of the messages the file holds, read on a connection of its own."""
    with closing(sqlite3.connect(queue_file, timeout=30)) as db:
        return {row[0] for row in db.execute("SELECT message_id FROM messages")}
