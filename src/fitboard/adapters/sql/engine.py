"""Async engines for the record: SQLite (embedded mode) and PostgreSQL (production)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

# Execution option a unit of work sets on its connection before BEGIN; on SQLite it chooses
# a deferred BEGIN instead of BEGIN IMMEDIATE.
READ_ONLY_OPTION = "fitboard_read_only"

# How long a transaction waits for another process's write lock (a CLI command beside
# `fitboard serve`). Writers of one process queue before they reach it (SqlStore).
SQLITE_BUSY_TIMEOUT_MS = 10_000

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
}


def database_url(url: str | URL) -> URL:
    """The URL with the async driver fitboard uses, so `sqlite:///x.db` and
    `postgresql://...` are accepted as well as their `+aiosqlite` / `+asyncpg` forms."""
    parsed = make_url(url)
    driver = _DRIVERS.get(parsed.drivername)
    if driver is not None:
        parsed = parsed.set(drivername=driver)
    if parsed.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise ValueError(
            f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}: "
            "use sqlite+aiosqlite:///<path> or postgresql+asyncpg://<host>/<database>"
        )
    return parsed


def create_engine(url: str | URL) -> AsyncEngine:
    """An engine configured for fitboard's durability and concurrency needs."""
    parsed = database_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    engine = create_async_engine(
        parsed,
        pool_size=10,
        max_overflow=10,
        pool_timeout=10,
        # No pool_pre_ping: with asyncpg it costs three statements (BEGIN, a ping,
        # ROLLBACK) on every checkout, a third of a worker's round trips to the database.
        # `_refuse_closed_connection` catches what it was for at no round trip.
        pool_recycle=1800,
        connect_args={
            "timeout": 10,
            "command_timeout": 60,
            "server_settings": {"application_name": "fitboard"},
        },
    )
    event.listen(engine.sync_engine.pool, "checkout", _refuse_closed_connection)
    return engine


def _refuse_closed_connection(
    _dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any
) -> None:
    """A pooled connection whose server went away (a PostgreSQL restart, a terminated
    backend) has seen its socket close while it sat idle: asyncpg marks it closed, and the
    pool, told so, replaces it with a new one before anyone uses it. A connection that dies
    in the middle of a statement fails that statement instead, which is transient: the
    worker retries the message, the API answers 503."""
    driver = record.driver_connection
    if driver is not None and driver.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


def _sqlite_engine(url: URL) -> AsyncEngine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url)
    event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
    event.listen(engine.sync_engine, "begin", _begin_sqlite_transaction)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # The sqlite3 driver's own transaction handling starts no transaction for SELECTs and
    # always a deferred one; SQLAlchemy's recipe is to turn it off and emit BEGIN ourselves.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        # The worker acks the queue message right after commit, so a committed workout must
        # survive a power loss: WAL with synchronous=NORMAL may lose the last commits.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _begin_sqlite_transaction(connection: Connection) -> None:
    # A deferred transaction that reads and then writes fails at once with SQLITE_BUSY if
    # another writer committed in between (the busy timeout cannot help: its snapshot is
    # stale). Taking the write lock at BEGIN makes writers queue up instead.
    if connection.get_execution_options().get(READ_ONLY_OPTION, False):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
