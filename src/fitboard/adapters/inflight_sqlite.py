"""`InFlightWorkouts` on SQLite, for the embedded mode.

The table can live in its own file or beside the queue (`Settings.queue_path`): it is
written when a workout is accepted, so keeping it in the queue's file means one fsync'd
file holds everything the embedded mode knows about workouts not yet in the record.
Marks made together (the workouts an API process accepts in one group commit) share one
transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import aiosqlite

from fitboard.adapters.group_commit import GroupCommit, GroupCommitClosed
from fitboard.adapters.sqlite_durable import connect_durable
from fitboard.application.ports import QueueUnavailable

__all__ = ["SqliteInFlight"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS inflight_workouts (
    workout_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    marked_at REAL NOT NULL
)
"""


class SqliteInFlight:
    """Accepted workouts not yet in the record, forgotten after `ttl_s` like the Redis one."""

    def __init__(self, path: Path, *, ttl_s: float = 86400.0) -> None:
        self._path = path
        self._ttl_s = ttl_s
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
        db = await self._connection()
        async with self._write_lock:
            # Purging on write keeps the table bounded without a sweeper task.
            await db.execute("BEGIN IMMEDIATE")
            try:
                await db.execute(
                    "DELETE FROM inflight_workouts WHERE marked_at <= ?", (now - self._ttl_s,)
                )
                await db.executemany(
                    "INSERT INTO inflight_workouts (workout_id, user_id, marked_at) "
                    "VALUES (?, ?, ?) ON CONFLICT (workout_id) DO UPDATE "
                    "SET user_id = excluded.user_id, marked_at = excluded.marked_at",
                    [(str(workout_id), str(user_id), now) for workout_id, user_id in marks],
                )
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")
        return [None] * len(marks)

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
        try:
            db = await self._connection()
            async with self._write_lock:
                # One transaction, so one sync to disk for them all.
                await db.execute("BEGIN IMMEDIATE")
                try:
                    await db.executemany(
                        "DELETE FROM inflight_workouts WHERE workout_id = ?",
                        [(str(workout_id),) for workout_id in workout_ids],
                    )
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
