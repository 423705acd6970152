"""Whether a token's athlete exists and the token is of their current generation.

A validly signed token names an athlete, but the athlete may not exist: a token from another
deployment with the same secret, from before the database was rebuilt, or of an account
since deleted. Such a request must be refused (401) at the door, not accepted and
dead-lettered by the worker, nor fail on a foreign key. And a token may be of an older
token generation than its athlete's (they signed out, or changed their password): refused
too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from fitboard.application.accounts.ports import AccessToken
from fitboard.application.accounts.sessions import Sessions
from fitboard.application.ports import StoreUnavailable
from fitboard.domain.errors import AuthenticationFailed

# About 100 bytes an id: a few megabytes for the athletes one API process serves at once.
DEFAULT_CAPACITY = 50_000
# How long a process trusts a generation it read: the longest a revoked token (or one of
# a deleted account) is still accepted by an API process other than the one that revoked
# it. The process that revokes forgets at once. docs/accounts.md states this bound.
REVOCATION_DELAY_S = 5.0


@dataclass(frozen=True)
class _Known:
    generation: int
    read_at: float


class KnownAthletes:
    """The token generation of each athlete this process has recently read from the
    record, so that a token costs a database read at most once per `recheck_after_s` per
    athlete, never on every workout.

    What a process read may be stale: another API process may have signed the athlete out
    or deleted them since. So an entry is trusted for `recheck_after_s` seconds
    (`REVOCATION_DELAY_S`), then read again; the process that made the change `forget`s
    the athlete at once. While the record cannot be reached, an athlete read before keeps
    their last generation until it can: ingest does not need the record (a workout waits
    in the queue), so an outage of PostgreSQL must not turn every submission into a 503;
    revocation waits for the record to come back, as it must. The oldest entries are
    dropped past `capacity`; dropping only costs a read. `clock` is monotonic seconds."""

    def __init__(
        self,
        capacity: int = DEFAULT_CAPACITY,
        recheck_after_s: float = REVOCATION_DELAY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._capacity = capacity
        self._recheck_after_s = recheck_after_s
        self._clock = clock
        # A dict keeps insertion order: the first key is the oldest read, dropped first.
        self._known: dict[UUID, _Known] = {}

    def remember(self, user_id: UUID, generation: int) -> None:
        """What was just read from the record (at registration or sign-in)."""
        self._known.pop(user_id, None)
        if len(self._known) >= self._capacity:
            del self._known[next(iter(self._known))]
        self._known[user_id] = _Known(generation, self._clock())

    def forget(self, user_id: UUID) -> None:
        """The athlete's generation changed here (or they are gone): read it again."""
        self._known.pop(user_id, None)

    async def require(self, access: AccessToken, sessions: Sessions) -> None:
        """Return if the token's athlete exists and the token is of their generation;
        AuthenticationFailed otherwise."""
        known = self._known.get(access.user_id)
        if known is None or self._clock() - known.read_at >= self._recheck_after_s:
            try:
                generation = await sessions.generation(access.user_id)
            except StoreUnavailable:
                if known is None:
                    raise
                generation = known.generation  # kept, and read again on the next request
            else:
                self.remember(access.user_id, generation)
        else:
            generation = known.generation
        if access.generation != generation:
            raise AuthenticationFailed(
                "the token was revoked (signed out, password changed); sign in again"
            )
