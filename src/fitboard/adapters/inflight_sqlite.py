"""`InFlightWorkouts` on SQLite, for the embedded mode.

The table can live in its own file or beside the queue (`Settings.queue_path`): it is
written when a workout is accepted, so keeping it in the queue's file means one fsync'd
file holds everything the embedded mode knows about workouts not yet in the record.
Marks made together (the workouts an API process accepts in one group commit) share one
transaction.

Beside the queue of the same process (`writes_with`, what embedded mode does), the marks
and their clearing ride the queue's own publish writes (`SqliteBroker.write_beside`), and
an accepted workout's mark is written in the very transaction that stores its message
(`publish_marked`): one writer on the file, so a mark costs no fsync of its own and never
waits out SQLite's busy handler for a write lock the queue's connection holds. Reads keep
a connection of their own (WAL: they never wait for a writer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import aiosqlite

from fitboard.adapters.group_commit import GroupCommit, GroupCommitClosed
from fitboard.adapters.queue_sqlite import Beside, SqliteBroker
from fitboard.adapters.sqlite_durable import connect_durable
from fitboard.application.messaging.ports import Message
from fitboard.application.ports import QueueUnavailable

__all__ = ["SqliteInFlight"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS inflight_workouts (
    workout_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    marked_at REAL NOT NULL
)
"""


_PURGE = "DELETE FROM inflight_workouts WHERE marked_at <= ?"
_MARK = (
    "INSERT INTO inflight_workouts (workout_id, user_id, marked_at) "
    "VALUES (?, ?, ?) ON CONFLICT (workout_id) DO UPDATE "
    "SET user_id = excluded.user_id, marked_at = excluded.marked_at"
)
_CLEAR = "DELETE FROM inflight_workouts WHERE workout_id = ?"
# How often a write also purges the expired marks. Reads ignore an expired mark anyway;
# purging only keeps the table bounded, and it scans the whole table, so not every write.
_PURGE_EVERY_S = 60.0


class SqliteInFlight:
    """Accepted workouts not yet in the record, forgotten after `ttl_s` like the Redis one."""

    def __init__(
        self, path: Path, *, ttl_s: float = 86400.0, writes_with: SqliteBroker | None = None
    ) -> None:
        """`writes_with`: the queue whose file is `path`, whose writes carry this table's."""
        self._path = path
        self._ttl_s = ttl_s
        self._writes_with = writes_with
        self._next_purge_at = 0.0
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        # One connection is shared by every request: two transactions must not interleave
        # on it (a second BEGIN inside the first fails), so writers take turns.
        self._write_lock = asyncio.Lock()
        # Marks made together share one transaction (and one fsync).
        self._marks: GroupCommit[tuple[UUID, UUID]] = GroupCommit(
            self._write_marks, max_items=512, name="sqlite in-flight mark"
        )

    async def _connection(self) -> aiosqlite.Connection:
        async with self._lock:
            if self._db is None:
                self._db = await connect_durable(self._path, _SCHEMA)
            return self._db

    async def mark(self, workout_id: UUID, user_id: UUID) -> None:
        await self._submit([(workout_id, user_id)])

    async def mark_many(self, marks: Sequence[tuple[UUID, UUID]]) -> None:
        await self._submit(marks)

    async def _submit(self, marks: Sequence[tuple[UUID, UUID]]) -> None:
        try:
            outcomes = await self._marks.submit_many(marks)
        except GroupCommitClosed as exc:
            raise QueueUnavailable("the in-flight table is closed") from exc
        failed = next((outcome for outcome in outcomes if outcome is not None), None)
        if failed is not None:
            raise QueueUnavailable(f"in-flight table failed: {failed}") from failed

    async def _write_marks(self, marks: list[tuple[UUID, UUID]]) -> list[BaseException | None]:
        """The marks of every caller waiting, in one transaction."""
        now = time.time()
        rows = [(str(workout_id), str(user_id), now) for workout_id, user_id in marks]
        # Purging on a write now and then keeps the table bounded without a sweeper task.
        purge = now >= self._next_purge_at
        if purge:
            self._next_purge_at = now + _PURGE_EVERY_S
        # The table exists once the reading connection is open.
        db = await self._connection()
        if self._writes_with is not None:
            purged = [Beside(_PURGE, [(now - self._ttl_s,)])] if purge else []
            await self._writes_with.write_beside([*purged, Beside(_MARK, rows)])
            return [None] * len(marks)
        async with self._write_lock:
            await db.execute("BEGIN IMMEDIATE")
            try:
                if purge:
                    await db.execute(_PURGE, (now - self._ttl_s,))
                await db.executemany(_MARK, rows)
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")
        return [None] * len(marks)

    async def publish_marked(
        self, submissions: Sequence[tuple[Message, UUID, UUID]]
    ) -> list[QueueUnavailable | None]:
        """Publish each message (message, workout id, athlete id) and mark its workout in
        flight in the same transaction of the queue this table rides (`writes_with`): one
        durable write for both, the mark written if and only if the message is stored.
        One outcome per message, None once stored (the `QueueAndMark` port, which `Ingest`
        uses)."""
        if self._writes_with is None:
            raise RuntimeError("only an in-flight table beside the queue publishes with it")
        now = time.time()
        # The table exists once the reading connection is open.
        await self._connection()
        publish = self._writes_with.publish_many_then(
            [
                (message, _MARK, (str(workout_id), str(user_id), now))
                for message, workout_id, user_id in submissions
            ]
        )
        if now < self._next_purge_at:
            return await publish
        self._next_purge_at = now + _PURGE_EVERY_S
        # Submitted in the same turn, so the purge rides the same write.
        purged, outcomes = await asyncio.gather(
            self._writes_with.write_beside([Beside(_PURGE, [(now - self._ttl_s,)])]),
            publish,
            return_exceptions=True,
        )
        if isinstance(outcomes, BaseException):
            raise outcomes
        if isinstance(purged, BaseException):
            log.warning("could not purge expired in-flight marks", exc_info=purged)
        return outcomes

    async def owner(self, workout_id: UUID) -> UUID | None:
        try:
            db = await self._connection()
            async with db.execute(
                "SELECT user_id FROM inflight_workouts WHERE workout_id = ? AND marked_at > ?",
                (str(workout_id), time.time() - self._ttl_s),
            ) as cursor:
                row = await cursor.fetchone()
        except sqlite3.Error as exc:
            raise QueueUnavailable(f"in-flight table failed: {exc}") from exc
        return UUID(row[0]) if row is not None else None

    async def clear_many(self, workout_ids: Sequence[UUID]) -> None:
        if not workout_ids:
            return
        rows = [(str(workout_id),) for workout_id in workout_ids]
        try:
            db = await self._connection()
            if self._writes_with is not None:
                await self._writes_with.write_beside([Beside(_CLEAR, rows)])
                return
            async with self._write_lock:
                # One transaction, so one sync to disk for them all.
                await db.execute("BEGIN IMMEDIATE")
                try:
                    await db.executemany(_CLEAR, rows)
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        await db.execute("ROLLBACK")
                    raise
                await db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise QueueUnavailable(f"in-flight table failed: {exc}") from exc

    async def oldest_marked_at(self) -> datetime | None:
        try:
            db = await self._connection()
            async with db.execute(
                "SELECT min(marked_at) FROM inflight_workouts WHERE marked_at > ?",
                (time.time() - self._ttl_s,),
            ) as cursor:
                row = await cursor.fetchone()
        except sqlite3.Error as exc:
            raise QueueUnavailable(f"in-flight table failed: {exc}") from exc
        if row is None or row[0] is None:
            return None
        return datetime.fromtimestamp(row[0], UTC)

    async def close(self) -> None:
        await self._marks.close()
        async with self._lock:
            if self._db is not None:
                await self._db.close()
                self._db = None
