"""Each athlete's board writes in the order of their commits: a lock per athlete that a
unit of work holds from `lock_and_bump_version(s)` until it ends, past its commit.

A writer of an athlete's boards (the worker, a change, a re-projection, a deletion) bumps
the athlete's projection version under the row lock, commits, and only then writes the
boards, inside the same unit of work. The row lock ends at the commit; this lock ends when
the unit of work does, after the board writes. So the next writer of the athlete cannot
commit before the previous one's board writes are done, and every board write of an
athlete lands in the order of the commits. That is what lets a loaded Redis board keep no
version per member (`adapters/ranking_redis.py`): its writes cannot arrive out of order.

PostgreSQL: a session-level advisory lock per athlete (`pg_advisory_lock`), keyed by the
first 8 bytes of the user id (two athletes sharing a key only wait on each other), taken in
key order (so two units of work locking overlapping sets never deadlock: each takes all of
these before any row lock) and released with `pg_advisory_unlock_all` as the unit of work
ends. A session that dies releases them with itself. They are taken by the statement that
locks the athletes' rows, first (`TAKEN_FIRST`, a condition that statement's scan of the
rows waits for), so locking costs one round trip, not two.

SQLite: the writers of one process already take turns for the whole unit of work
(`SqlStore`), which orders them; nothing is taken here. Several processes writing one
SQLite file and one shared Redis would not be ordered by it, so production mode, whose
processes share the boards, refuses a record that is not PostgreSQL (`config.Settings`).
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, BIGINT
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["TAKEN_FIRST", "BoardWriteLocks", "lock_key"]

# Volatile functions in a SELECT list are evaluated after its ORDER BY's sort (PostgreSQL
# postpones them past the sort for exactly this), so the locks are taken in key order.
_TAKE_IN_ORDER = (
    "SELECT pg_advisory_lock(key) FROM unnest(:board_lock_keys) AS locked(key) ORDER BY key"
)
_KEYS = bindparam("board_lock_keys", type_=ARRAY(BIGINT))

# The locks taken, as a condition of the statement that locks the athletes' rows: the
# scalar subquery refers to nothing of that statement, so PostgreSQL evaluates it once,
# as a one-time filter that the scan of the rows starts only after (and a subquery's
# output that nobody reads is kept when it calls a volatile function): every advisory
# lock is held before the first row lock is asked for, in that one statement.
TAKEN_FIRST = text(f"(SELECT count(*) FROM ({_TAKE_IN_ORDER}) AS taken) >= 0").bindparams(_KEYS)
_UNLOCK_ALL = text("SELECT pg_advisory_unlock_all()")


def lock_key(user_id: UUID) -> int:
    """The advisory lock key of an athlete: their id's first 8 bytes as a signed bigint."""
    return int.from_bytes(user_id.bytes[:8], "big", signed=True)


class BoardWriteLocks:
    """The athletes' board-write locks of one unit of work's connection."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        self._postgresql = connection.dialect.name == "postgresql"
        self._held = False

    @property
    def held(self) -> bool:
        """Whether any lock was taken (and not yet released)."""
        return self._held

    def taking(self, user_ids: Sequence[UUID]) -> dict[str, list[int]]:
        """The parameters of `TAKEN_FIRST` that lock each athlete of `user_ids` until
        `release`, waiting for its holder; run them in that statement, on PostgreSQL (on
        SQLite there is nothing to take: `TAKEN_FIRST` is not in its statements)."""
        if not self._postgresql:
            return {}
        # Marked before the statement runs: should it fail half-way, the locks it took are
        # still released (or the connection discarded) as the unit of work ends.
        self._held = True
        return {"board_lock_keys": sorted({lock_key(user_id) for user_id in user_ids})}

    async def release(self) -> None:
        """Release every lock taken. Outside any transaction of the caller's: call it once
        the unit of work's transaction is committed or rolled back."""
        if not self._held:
            return
        await self._connection.execute(_UNLOCK_ALL)
        self._held = False
