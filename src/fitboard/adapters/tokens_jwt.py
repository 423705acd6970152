"""Access tokens: short-lived JWTs signed with HS256 (PyJWT).

Strict on what it accepts: HS256 only (`alg: none` and every other algorithm refused),
an expiry, issue time, subject and issuer required. A token names its athlete's token
generation in `gen` (docs/accounts.md); tokens issued before generations existed have
none and are of generation 0."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

import jwt

from fitboard.application.accounts.ports import AccessToken
from fitboard.domain.errors import AuthenticationFailed

ISSUER = "fitboard"
ALGORITHM = "HS256"


class JwtTokens:
    def __init__(self, secret: str, ttl_s: int) -> None:
        self._secret = secret
        self._ttl_s = ttl_s

    def issue(self, user_id: UUID, generation: int) -> tuple[str, int]:
        now = int(time.time())
        claims = {
            "sub": str(user_id),
            "iss": ISSUER,
            "iat": now,
            "exp": now + self._ttl_s,
            "gen": generation,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM), self._ttl_s

    def verify(self, token: str) -> AccessToken:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "iss"]},
                leeway=10,
            )
            return AccessToken(
                UUID(claims["sub"]), float(claims["exp"]), _generation(claims.get("gen", 0))
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationFailed("the token has expired; sign in again") from None
        except (jwt.InvalidTokenError, ValueError):
            raise AuthenticationFailed("the token is not valid") from None


def _generation(value: Any) -> int:
    # JSON's true is not a generation, though Python's bool is an int.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError("gen must be a non-negative integer")
    return value
