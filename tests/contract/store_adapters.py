"""Fixtures giving each store contract test a freshly migrated, empty record on every engine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Connection

from fitboard.adapters.sql import SqlStore, upgrade_database
from fitboard.adapters.sql.tables import metadata

STORE_ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.production)]


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(name="migrated_postgres_url", scope="session")
def migrated_postgres_url_fixture(postgres_url: str) -> str:
    """The session's PostgreSQL database, migrated once."""
    asyncio.run(upgrade_database(postgres_url))
    return postgres_url


@pytest.fixture(name="store_url", params=STORE_ENGINES)
def store_url_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL per engine: a new SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        # A missing parent directory is part of the contract: the adapter creates it.
        return sqlite_url(tmp_path / "data" / "record.db")
    url: str = request.getfixturevalue("migrated_postgres_url")
    return url


@pytest.fixture(name="store")
async def store_fixture(store_url: str) -> AsyncIterator[SqlStore]:
    """A store on a migrated database with every table empty."""
    if store_url.startswith("sqlite"):
        await upgrade_database(store_url)
    sql_store = SqlStore(store_url)
    if sql_store.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
        async with sql_store.engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE TABLE {names}"))
    yield sql_store
    await sql_store.close()


class StatementLog:
    """The SQL statements a store sends, to check how many round trips an operation costs."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.parameters: list[object] = []  # each statement's, as the driver was given them

    def queries(self) -> list[str]:
        """Statements other than transaction control."""
        control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
        return [s for s in self.statements if not s.lstrip().upper().startswith(control)]

    def clear(self) -> None:
        self.statements.clear()
        self.parameters.clear()


@pytest.fixture(name="statement_log")
def statement_log_fixture(store: SqlStore) -> Iterator[StatementLog]:
    log = StatementLog()

    def record(
        _conn: Connection, _cursor: object, statement: str, parameters: object, *_args: object
    ) -> None:
        log.statements.append(statement)
        log.parameters.append(parameters)

    event.listen(store.engine.sync_engine, "before_cursor_execute", record)
    yield log
    event.remove(store.engine.sync_engine, "before_cursor_execute", record)


async def plan_of(
    store: SqlStore, read: Callable[[], Awaitable[None]], marker: str, *, seqscan: bool = True
) -> str:
    """The engine's plan of the first statement `read` sends whose text holds `marker`,
    with the parameters it was sent with; the workouts table analyzed first. Without
    `seqscan`, PostgreSQL plans it with sequential scans off, so a small table's plan shows
    which index can serve the statement rather than a scan that is cheaper at that size."""
    postgresql = store.engine.dialect.name == "postgresql"
    if postgresql:
        async with store.engine.connect() as connection:
            await connection.exec_driver_sql("ANALYZE workouts")
    sent: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:
        sent.append((args[2], args[3]))  # the statement and its parameters, as sent

    event.listen(store.engine.sync_engine, "before_cursor_execute", capture)
    try:
        await read()
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", capture)
    (statement, parameters), *_ = [(q, p) for q, p in sent if marker in q]
    explain = "EXPLAIN " if postgresql else "EXPLAIN QUERY PLAN "
    async with store.engine.connect() as connection:
        if postgresql and not seqscan:
            # LOCAL: the transaction ends with the connection's return to the pool.
            await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        rows = await connection.exec_driver_sql(explain + statement, parameters)
        return "\n".join(str(row) for row in rows)
