"""Whether a token's athlete exists and the token is of their current generation.

A validly signed token names an athlete, but the athlete may not exist: a token from another
deployment with the same secret, from before the database was rebuilt, or of an account
since deleted. Such a request must be refused (401) at the door, not accepted and
dead-lettered by the worker, nor fail on a foreign key. And a token may be of an older
token generation than its athlete's (they signed out, or changed their password): refused
too.
"""

from __future__ import annotations

import math
import random
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
# How long a process trusts a generation it read while changes cannot be heard (no
# subscription, or one not proven alive): the longest a revoked token, or one of a deleted
# account, is then accepted by an API process other than the one that revoked it.
# docs/accounts.md states this bound.
REVOCATION_DELAY_S = 5.0
# How long a process trusts a generation it read while it hears every change: a safety
# net for a change that was never told (its process died between the commit and the
# message). Each entry's trust is drawn between half of it and all of it, so that the
# athletes read together are not all read again together.
SAFETY_RECHECK_S = 60.0


@dataclass(frozen=True)
class _Known:
    generation: int
    read_at: float
    # How long it may be trusted while changes are heard; 0: only REVOCATION_DELAY_S
    # (read while changes were not heard, or while one was being told).
    heard_trust_s: float


class KnownAthletes:
    """The token generation of each athlete this process has recently read from the
    record, so that a token costs a database read rarely, never on every workout.

    Every change of a generation is told after its commit (`GenerationChanges`): the
    process that made it and, through it, every other `forget` the athlete. While those
    changes are heard (`heard`), an entry is trusted for `safety_recheck_s`; when they
    cannot be (`deaf`, or no proof of hearing for the time `heard` gave), only for
    `recheck_after_s` (`REVOCATION_DELAY_S`), as if nothing were told. When hearing
    resumes after a lapse, everything kept is forgotten: changes may have been missed.
    A read that a change overtook (told while the record was being read) may have fetched
    the old generation: it is trusted only for `recheck_after_s`. Until it is told that
    changes are heard, a process hears none.

    While the record cannot be reached, an athlete read before keeps their last
    generation until it can: ingest does not need the record (a workout waits in the
    queue), so an outage of PostgreSQL must not turn every submission into a 503;
    revocation waits for the record to come back, as it must. The oldest entries are
    dropped past `capacity`; dropping only costs a read. `clock` is monotonic seconds."""

    def __init__(
        self,
        capacity: int = DEFAULT_CAPACITY,
        recheck_after_s: float = REVOCATION_DELAY_S,
        safety_recheck_s: float = SAFETY_RECHECK_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._capacity = capacity
        self._recheck_after_s = recheck_after_s
        self._safety_recheck_s = safety_recheck_s
        self._clock = clock
        # A dict keeps insertion order: the first key is the oldest read, dropped first.
        self._known: dict[UUID, _Known] = {}
        # Changes are heard until then (monotonic seconds); -inf: not heard.
        self._hearing_until = -math.inf
        # Bumped by every change told and every lapse of hearing: a read that saw it move
        # may predate the change.
        self._changes = 0

    @property
    def hearing(self) -> bool:
        """Whether changes are heard now, so that what was read is trusted for long."""
        return self._clock() < self._hearing_until

    def __len__(self) -> int:
        return len(self._known)

    def remember(self, user_id: UUID, generation: int) -> None:
        """What was just read from the record (at registration or sign-in). Trusted only
        for `recheck_after_s`: a change told while it was being read would not show."""
        self._keep(user_id, _Known(generation, self._clock(), 0.0))

    def _keep(self, user_id: UUID, known: _Known) -> None:
        self._known.pop(user_id, None)
        if len(self._known) >= self._capacity:
            del self._known[next(iter(self._known))]
        self._known[user_id] = known

    def forget(self, user_id: UUID) -> None:
        """The athlete's generation changed (or they are gone): read it again."""
        self._changes += 1
        self._known.pop(user_id, None)

    def heard(self, for_s: float) -> None:
        """Changes are heard for `for_s` seconds from now; after a lapse, as `resume`."""
        now = self._clock()
        if now >= self._hearing_until:
            self._forget_all()
        self._hearing_until = now + for_s

    def resume(self, for_s: float) -> None:
        """Changes are heard again; those told before may have been missed."""
        self._forget_all()
        self._hearing_until = self._clock() + for_s

    def deaf(self) -> None:
        """Changes are no longer heard: trust each generation for `recheck_after_s`."""
        self._changes += 1
        self._hearing_until = -math.inf

    def _forget_all(self) -> None:
        self._changes += 1
        self._known.clear()

    async def require(self, access: AccessToken, sessions: Sessions) -> None:
        """Return if the token's athlete exists and the token is of their generation;
        AuthenticationFailed otherwise."""
        known = self._known.get(access.user_id)
        now = self._clock()
        if known is not None:
            hearing = now < self._hearing_until
            trust_s = known.heard_trust_s if hearing else 0.0
            if now - known.read_at >= max(trust_s, self._recheck_after_s):
                known = await self._read(access.user_id, sessions, known, hearing)
        else:
            known = await self._read(access.user_id, sessions, None, now < self._hearing_until)
        if access.generation != known.generation:
            raise AuthenticationFailed(
                "the token was revoked (signed out, password changed); sign in again"
            )

    async def _read(
        self, user_id: UUID, sessions: Sessions, known: _Known | None, hearing: bool
    ) -> _Known:
        changes = self._changes
        try:
            generation = await sessions.generation(user_id)
        except StoreUnavailable:
            if known is None:
                raise
            return known  # kept, and read again on the next request
        overtaken = self._changes != changes
        trust_s = 0.0 if overtaken or not hearing else self._heard_trust_s()
        read = _Known(generation, self._clock(), trust_s)
        self._keep(user_id, read)
        return read

    def _heard_trust_s(self) -> float:
        return self._safety_recheck_s * random.uniform(0.5, 1.0)
