"""Opening the embedded mode's own SQLite files (queue, in-flight markers) durably."""

from __future__ import annotations

from pathlib import Path

import aiosqlite


async def connect_durable(path: Path, schema: str) -> aiosqlite.Connection:
    """One connection in WAL mode with synchronous=FULL — a commit is fsynced before it
    returns, so what was confirmed survives power loss, not just a crash of the process —
    waiting up to 30 s for another process's write lock, with `schema` applied.

    Autocommit (`isolation_level=None`): callers say BEGIN IMMEDIATE themselves, taking
    the write lock up front instead of failing half-way through a transaction."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = await aiosqlite.connect(path, isolation_level=None, timeout=30.0)
    try:
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=FULL")
        await db.execute("PRAGMA busy_timeout=30000")
        await db.executescript(schema)
    except BaseException:
        await db.close()
        raise
    return db
