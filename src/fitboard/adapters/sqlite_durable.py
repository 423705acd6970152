"""Opening the embedded mode's own SQLite files (queue, in-flight markers) durably."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import aiosqlite

_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=30000",
)


async def connect_durable(path: Path, schema: str) -> aiosqlite.Connection:
    """One connection in WAL mode with synchronous=FULL — a commit is fsynced before it
    returns, so what was confirmed survives power loss, not just a crash of the process —
    waiting up to 30 s for another process's write lock, with `schema` applied.

    Autocommit (`isolation_level=None`): callers say BEGIN IMMEDIATE themselves, taking
    the write lock up front instead of failing half-way through a transaction."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = await aiosqlite.connect(path, isolation_level=None, timeout=30.0)
    try:
        for pragma in _PRAGMAS:
            await db.execute(pragma)
        await db.executescript(schema)
    except BaseException:
        await db.close()
        raise
    return db


def open_durable(path: Path, schema: str) -> sqlite3.Connection:
    """`connect_durable`'s connection, blocking: for a caller that runs a whole
    transaction in one call on a thread of its own (the queue, `SqliteBroker`), where
    aiosqlite would cost one hand-over between the thread and the event loop a
    statement. Use it only from the thread that opened it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
    try:
        for pragma in _PRAGMAS:
            db.execute(pragma)
        db.executescript(schema)
    except BaseException:
        db.close()
        raise
    return db


@contextlib.contextmanager
def commits_unsynced(db: sqlite3.Connection) -> Iterator[None]:
    """Within: `db`'s commits (a connection of `open_durable`, in WAL mode) are not synced
    to disk by themselves (synchronous=NORMAL): a power failure may lose them, but never
    corrupts the file, and the next durable commit syncs them with its own (the WAL is one
    file, written and synced in order). For a write whose loss is harmless, to spare it
    an fsync. Afterwards every commit is durable again, whatever happened within; not
    inside a transaction (SQLite applies the setting from the next one)."""
    db.execute("PRAGMA synchronous=NORMAL")
    try:
        yield
    finally:
        db.execute("PRAGMA synchronous=FULL")
