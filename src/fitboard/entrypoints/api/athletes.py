"""Which athletes exist, as far as a token's subject is concerned.

A validly signed token names an athlete, but the athlete may not exist: a token from another
deployment with the same secret, or from before the database was rebuilt. Such a request
must be refused (401) at the door, not accepted and dead-lettered by the worker, nor fail
on a foreign key.
"""

from __future__ import annotations

from uuid import UUID

from fitboard.application.accounts.athletes import Athletes
from fitboard.domain.errors import AuthenticationFailed, NotFound

# About 100 bytes an id: a few megabytes for the athletes one API process serves at once.
DEFAULT_CAPACITY = 50_000


class KnownAthletes:
    """The ids of athletes this process has seen in the record, so that a token costs a
    database read only the first time its athlete is seen, never on every workout.

    Remembering is safe because athletes are never deleted today: an id that existed once
    exists for good. Whoever adds account deletion must make every API process forget the
    id (or give up this memory), or a deleted athlete's unexpired tokens would still pass.
    The oldest ids are forgotten past `capacity`; forgetting only costs a read."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        # A dict keeps insertion order: the first key is the oldest, dropped first.
        self._ids: dict[UUID, None] = {}

    def remember(self, user_id: UUID) -> None:
        if user_id in self._ids:
            return
        if len(self._ids) >= self._capacity:
            del self._ids[next(iter(self._ids))]
        self._ids[user_id] = None

    async def require(self, user_id: UUID, athletes: Athletes) -> None:
        """Return if the athlete exists; AuthenticationFailed otherwise."""
        if user_id in self._ids:
            return
        try:
            await athletes.get_user(user_id)
        except NotFound:
            raise AuthenticationFailed(
                "the token's athlete does not exist here; register or sign in again"
            ) from None
        self.remember(user_id)
