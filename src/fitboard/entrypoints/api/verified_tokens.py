"""The access tokens this process has verified, so that a token's signature and claims
are checked once, not on every request that carries it.

Decoding and verifying a JWT (base64, two JSON documents, an HMAC, the claims) cost about
a tenth of the API's CPU per `POST /v1/workouts`, for the same few tokens over and over: an
app sends its token with every request until it expires. What verification concluded
cannot change while the token is unexpired: the secret is the process's for its lifetime
and a token's claims are signed. So a token verified once is accepted again, as the same
AccessToken, until its `exp`; from then on it is verified again (and refused once past the
verifier's leeway). Only tokens that passed are remembered: a forged or expired token is
checked, and refused, every time.

Revocation is not the signature's business: whether the token is of its athlete's current
generation is checked on every request after this (athletes.KnownAthletes).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fitboard.application.accounts.ports import AccessToken, TokenService

# A token is a few hundred bytes: a few megabytes for the clients one API process serves.
DEFAULT_CAPACITY = 10_000


class VerifiedTokens:
    """`clock` is Unix seconds, the clock of a token's `exp`. The oldest entries are
    dropped past `capacity`; dropping only costs a verification."""

    def __init__(
        self,
        capacity: int = DEFAULT_CAPACITY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._capacity = capacity
        self._clock = clock
        # A dict keeps insertion order: the first key is the oldest verified, dropped first.
        self._verified: dict[str, AccessToken] = {}

    def verify(self, token: str, tokens: TokenService) -> AccessToken:
        """`tokens.verify(token)`, or what it answered before while that is unexpired;
        raises what `tokens.verify` raises."""
        known = self._verified.get(token)
        if known is not None:
            if self._clock() < known.expires_at:
                return known
            del self._verified[token]
        access = tokens.verify(token)
        if self._clock() < access.expires_at:
            if len(self._verified) >= self._capacity:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = access
        return access
