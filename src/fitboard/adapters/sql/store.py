"""The store port on SQLAlchemy: units of work over SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fitboard.adapters.sql.achievements import SqlAchievementRepository
from fitboard.adapters.sql.board_write_locks import BoardWriteLocks
from fitboard.adapters.sql.challenges import SqlChallengeRepository
from fitboard.adapters.sql.changes import SqlWorkoutChangeRepository
from fitboard.adapters.sql.engine import READ_ONLY_OPTION, create_engine
from fitboard.adapters.sql.personal_data import SqlPersonalData
from fitboard.adapters.sql.pool_metrics import unwatch_pool, watch_pool
from fitboard.adapters.sql.reports import SqlReportRepository
from fitboard.adapters.sql.repositories import (
    SqlGroupRepository,
    SqlUserRepository,
    SqlWorkoutRepository,
)
from fitboard.adapters.sql.rollups import SqlRollupRepository
from fitboard.adapters.sql.scheduled_runs import SqlScheduledRuns
from fitboard.application.accounts.ports import PersonalDataRepository, UserRepository
from fitboard.application.achievements.ports import AchievementRepository
from fitboard.application.boards.ports import RollupRepository
from fitboard.application.groups.ports import ChallengeRepository, GroupRepository
from fitboard.application.ports import ScheduledRuns, StoreUnavailable
from fitboard.application.reports.ports import ReportRepository
from fitboard.application.workouts.ports import WorkoutChangeRepository, WorkoutRepository

PING_TIMEOUT_S = 5.0
# How long a writer of this process may wait its turn for SQLite's write lock. Writers
# queue for it (see SqlStore); this only bounds a wait that something has gone wrong with.
SQLITE_WRITER_WAIT_S = 120.0

_SQLITE_BUSY_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
# PostgreSQL's SQLSTATEs that mean "not now": connection exceptions (class 08), the server
# shutting down, crashed or starting up (57P01-57P03), out of resources (class 53), and a
# transaction that lost a serialization race or a deadlock (40001, 40P01).
_PG_UNAVAILABLE_CLASSES = ("08", "53")
_PG_UNAVAILABLE_STATES = {"57P01", "57P02", "57P03", "40001", "40P01"}
# A table or column the code names that the database lacks (42P01, 42703): the schema is
# older than the code (a process restarted on a new release before `fitboard db upgrade`).
# Every message would fail alike, so it is waited out, not dead-lettered message by message.
_PG_SCHEMA_BEHIND_STATES = {"42P01", "42703"}


def is_unavailable(error: BaseException) -> bool:
    """True for failures that say "the database cannot serve now, retry later" rather than
    "this request is wrong": lost or refused connections, timeouts, a server shutting down
    or out of resources, a lost serialization race, a schema older than the code, SQLite's
    lock wait running out."""
    if isinstance(error, OSError | TimeoutError):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    state = getattr(error.orig, "sqlstate", None)
    if isinstance(state, str) and (
        state.startswith(_PG_UNAVAILABLE_CLASSES)
        or state in _PG_UNAVAILABLE_STATES
        or state in _PG_SCHEMA_BEHIND_STATES
    ):
        return True
    code = getattr(error.orig, "sqlite_errorcode", None)
    # Extended result codes keep the primary code in their low byte.
    return code is not None and code & 0xFF in _SQLITE_BUSY_CODES


@asynccontextmanager
async def unavailable_as_port_error(*, connecting: bool = False) -> AsyncIterator[None]:
    """Raise StoreUnavailable for failures that mean the database cannot serve now. While
    connecting, every database error means that (refused, cannot open the file, bad
    credentials after a rotation): nothing of the caller's has run yet."""
    try:
        yield
    except StoreUnavailable:
        raise
    except Exception as error:
        if is_unavailable(error) or (connecting and isinstance(error, DBAPIError)):
            raise StoreUnavailable(str(error)) from error
        raise


class SqlUnitOfWork:
    """One transaction on one pooled connection.

    Entering begins it (on SQLite a writer takes the write lock right there); leaving
    without `commit()` rolls it back. Leaving releases the athletes' board-write locks
    that `users.lock_and_bump_version(s)` took (`board_write_locks.py`), which outlive
    the commit so that the boards are written under them. Failures that mean the
    database is unreachable are raised as StoreUnavailable when they leave the block."""

    # Typed as the ports (protocol attributes are invariant), which also makes mypy check
    # each repository against its port where it is assigned.
    users: UserRepository
    workouts: WorkoutRepository
    rollups: RollupRepository
    groups: GroupRepository
    achievements: AchievementRepository
    reports: ReportRepository
    challenges: ChallengeRepository
    runs: ScheduledRuns
    changes: WorkoutChangeRepository
    personal_data: PersonalDataRepository

    def __init__(
        self, engine: AsyncEngine, *, read_only: bool, writers: asyncio.Lock | None = None
    ) -> None:
        self._engine = engine
        self._read_only = read_only
        # Held from before connecting until the connection is closed, by writers only.
        self._turn = None if read_only else writers
        self._has_turn = False
        self._connection: AsyncConnection | None = None

    async def __aenter__(self) -> Self:
        if self._connection is not None:
            raise RuntimeError("a unit of work cannot be entered twice")
        await self._wait_for_turn()
        try:
            async with unavailable_as_port_error(connecting=True):
                connection = await self._engine.connect()
                try:
                    if self._read_only:
                        await connection.execution_options(
                            **{READ_ONLY_OPTION: True},
                            **self._read_only_options(),
                        )
                    await connection.begin()
                except BaseException:
                    await connection.close()
                    raise
        except BaseException:
            self._end_turn()
            raise
        self._connection = connection
        self._board_locks = BoardWriteLocks(connection)
        self.users = SqlUserRepository(connection, self._board_locks)
        self.workouts = SqlWorkoutRepository(connection)
        self.rollups = SqlRollupRepository(connection)
        self.groups = SqlGroupRepository(connection)
        self.achievements = SqlAchievementRepository(connection)
        self.reports = SqlReportRepository(connection)
        self.challenges = SqlChallengeRepository(connection)
        self.runs = SqlScheduledRuns(connection)
        self.changes = SqlWorkoutChangeRepository(connection)
        self.personal_data = SqlPersonalData(connection)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection = self._require_connection()
        self._connection = None
        try:
            async with unavailable_as_port_error():
                if connection.in_transaction():
                    await connection.rollback()
                await self._board_locks.release()
        except Exception:
            if self._board_locks.held:
                # Locks that could not be released must not go back to the pool with the
                # connection: closed instead, the session ends and they with it.
                await connection.invalidate()
            # The connection is already broken; the error that broke it is the one to see.
            if exc is None:
                raise
        finally:
            try:
                await connection.close()
            finally:
                self._end_turn()
        if exc is not None and not isinstance(exc, StoreUnavailable) and is_unavailable(exc):
            raise StoreUnavailable(str(exc)) from exc

    async def commit(self) -> None:
        async with unavailable_as_port_error():
            await self._require_connection().commit()

    async def rollback(self) -> None:
        async with unavailable_as_port_error():
            await self._require_connection().rollback()

    async def _wait_for_turn(self) -> None:
        if self._turn is None:
            return
        try:
            async with asyncio.timeout(SQLITE_WRITER_WAIT_S):
                await self._turn.acquire()
            self._has_turn = True
        except TimeoutError:
            raise StoreUnavailable(
                f"waited {SQLITE_WRITER_WAIT_S:.0f} s for the database's write lock"
            ) from None

    def _end_turn(self) -> None:
        if self._turn is not None and self._has_turn:
            self._has_turn = False
            self._turn.release()

    def _read_only_options(self) -> dict[str, bool]:
        if self._engine.dialect.name == "postgresql":
            return {"postgresql_readonly": True}
        return {}

    def _require_connection(self) -> AsyncConnection:
        if self._connection is None:
            raise RuntimeError("the unit of work is not active; use it with `async with`")
        return self._connection


class SqlStore:
    """The system of record on SQLite (embedded mode) or PostgreSQL (production).

    The database must already be at the latest migration (see `upgrade_database`)."""

    def __init__(self, url: str | URL) -> None:
        self._engine = create_engine(url)
        watch_pool(self._engine.sync_engine)
        # SQLite lets one transaction write at a time. The writers of this process take
        # turns here, in order of arrival, before they connect: waiting in SQLite's busy
        # handler instead would hold a pooled connection each, and its polling serves no
        # one in order, so under enough concurrency a writer could lose every race until
        # its busy timeout ran out ("database is locked"). The busy timeout is left for
        # other processes (a CLI command beside `fitboard serve`).
        self._writers = asyncio.Lock() if self._engine.dialect.name == "sqlite" else None

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    def unit_of_work(self, *, read_only: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._engine, read_only=read_only, writers=self._writers)

    async def ping(self) -> None:
        async with (
            unavailable_as_port_error(connecting=True),
            asyncio.timeout(PING_TIMEOUT_S),
            self._engine.connect() as connection,
        ):
            await connection.execute(text("SELECT 1"))

    async def size_bytes(self) -> int:
        if self._engine.dialect.name == "sqlite":
            # The database file and its write-ahead log, which holds recent commits.
            path = Path(self._engine.url.database or "")
            files = [path, path.with_name(path.name + "-wal")]
            return sum(f.stat().st_size for f in files if f.exists())
        async with (
            unavailable_as_port_error(connecting=True),
            self._engine.connect() as connection,
        ):
            size = await connection.scalar(text("SELECT pg_database_size(current_database())"))
        return int(size or 0)

    async def close(self) -> None:
        unwatch_pool(self._engine.sync_engine)
        await self._engine.dispose()
