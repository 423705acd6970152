"""VerifiedTokens: a token's verification is remembered until its expiry, never a refusal;
behind it, the real JWT verifier (tokens_jwt.JwtTokens)."""

from __future__ import annotations

import uuid

import pytest

from fitboard.adapters.tokens_jwt import JwtTokens
from fitboard.application.accounts.ports import AccessToken
from fitboard.domain.errors import AuthenticationFailed
from fitboard.entrypoints.api.verified_tokens import VerifiedTokens


class CountingTokens:
    """The real verifier, counting the tokens it is asked to verify."""

    def __init__(self) -> None:
        self.jwt = JwtTokens("a-test-secret-of-at-least-32-bytes!", ttl_s=60)
        self.verified: list[str] = []

    def issue(self, user_id: uuid.UUID, generation: int) -> tuple[str, int]:
        return self.jwt.issue(user_id, generation)

    def verify(self, token: str) -> AccessToken:
        self.verified.append(token)
        return self.jwt.verify(token)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def tokens() -> CountingTokens:
    return CountingTokens()


def test_a_token_is_verified_once_until_it_expires(tokens: CountingTokens) -> None:
    user_id = uuid.uuid4()
    token, _ = tokens.issue(user_id, generation=3)
    first = tokens.verify(token)
    tokens.verified.clear()
    clock = Clock(first.expires_at - 30)
    cache = VerifiedTokens(clock=clock)

    assert cache.verify(token, tokens) == AccessToken(user_id, first.expires_at, 3)
    assert cache.verify(token, tokens) == first
    assert tokens.verified == [token]

    # From its expiry on, it is the verifier's again (which still allows its leeway).
    clock.now = first.expires_at
    assert cache.verify(token, tokens) == first
    assert tokens.verified == [token, token]


def test_a_refused_token_is_refused_every_time(tokens: CountingTokens) -> None:
    token, _ = tokens.issue(uuid.uuid4(), generation=0)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    cache = VerifiedTokens()
    for _ in range(2):
        with pytest.raises(AuthenticationFailed):
            cache.verify(forged, tokens)
    assert tokens.verified == [forged, forged]


def test_the_oldest_token_is_dropped_past_capacity(tokens: CountingTokens) -> None:
    cache = VerifiedTokens(capacity=2)
    a, b, c = (tokens.issue(uuid.uuid4(), generation=0)[0] for _ in range(3))
    for token in (a, b, c):
        cache.verify(token, tokens)
    tokens.verified.clear()
    cache.verify(c, tokens)
    cache.verify(b, tokens)
    assert tokens.verified == []
    cache.verify(a, tokens)
    assert tokens.verified == [a]
