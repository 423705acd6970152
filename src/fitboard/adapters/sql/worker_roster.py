"""`WorkerRoster` on PostgreSQL: a worker's slot is a session-level advisory lock.

A worker holds its slot `n` as the advisory lock (`roster key`, n) on a connection of its
own, taken out of the store's pool for as long as it is in the roster; the live slots
are the granted advisory locks of that key in the database (`pg_locks`). A worker that
dies, or loses its connection, loses its lock with its session: PostgreSQL frees it, so
the roster needs no expiry and no heartbeat. The two-key form of the lock is a key space
of its own, apart from the athletes' one-key board-write locks (`board_write_locks`).

The roster key is made from the deployment's namespace, so that two deployments sharing
a database (the tests' namespaces, a bench beside them) have rosters of their own."""

from __future__ import annotations

import logging
import zlib
from itertools import count

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fitboard.adapters.sql.store import unavailable_as_port_error

log = logging.getLogger(__name__)

_TAKE = text("SELECT pg_try_advisory_lock(:roster, :slot)")
_LIVE = text(
    "SELECT objid::bigint AS slot FROM pg_locks"
    " WHERE locktype = 'advisory' AND granted AND objsubid = 2"
    " AND classid = CAST(:roster AS bigint)::oid"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " ORDER BY slot"
)
_GIVE_UP = text("SELECT pg_advisory_unlock(:roster, :slot)")


def roster_key(namespace: str) -> int:
    """The advisory lock's first key for `namespace`: a CRC-32 of it, kept positive so
    that it reads back from `pg_locks.classid` (an oid) as itself."""
    return zlib.crc32(f"fitboard.workers.{namespace}".encode()) & 0x7FFFFFFF


class PostgresWorkerRoster:
    """The workers of one namespace, each holding a slot while its connection lives."""

    def __init__(self, engine: AsyncEngine, namespace: str) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("the worker roster is kept in PostgreSQL")
        self._engine = engine
        self._roster = roster_key(namespace)
        self._connection: AsyncConnection | None = None
        self._slot: int | None = None

    async def join(self) -> int:
        if self._slot is not None:
            return self._slot
        async with unavailable_as_port_error(connecting=True):
            connection = await self._engine.connect()
            try:
                # Outside any transaction: a session-level lock outlives each statement's
                # own (SQLAlchemy's autobegin would hold a transaction open meanwhile).
                connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
                for slot in count():
                    taken = await connection.scalar(_TAKE, {"roster": self._roster, "slot": slot})
                    if taken:
                        break
            except BaseException:
                await connection.close()
                raise
        self._connection, self._slot = connection, slot
        log.info("worker joined the roster as slot %d", slot)
        return slot

    async def live(self) -> list[int]:
        connection = self._connection
        if connection is None:
            return []
        try:
            async with unavailable_as_port_error():
                rows = await connection.execute(_LIVE, {"roster": self._roster})
                return [int(row.slot) for row in rows]
        except BaseException:
            # The connection may be gone, and its lock with it: join again.
            await self._forget()
            raise

    async def leave(self) -> None:
        connection, slot = self._connection, self._slot
        if connection is None or slot is None:
            return
        try:
            async with unavailable_as_port_error():
                await connection.execute(_GIVE_UP, {"roster": self._roster, "slot": slot})
        except Exception as exc:
            # Closing the session frees the lock all the same.
            log.debug("could not give up roster slot %d (%s); closing its session", slot, exc)
        await self._forget()

    async def _forget(self) -> None:
        connection, self._connection, self._slot = self._connection, None, None
        if connection is not None:
            try:
                await connection.close()
            except Exception as exc:
                log.debug("closing the roster's connection failed: %s", exc)
