"""The `RateLimiter` port, in process and on Redis: a budget holds, refuses with an honest
wait, keeps keys and budgets apart, and lets requests through when Redis is down."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from fitboard.adapters.rate_limiter import LimitsRateLimiter
from fitboard.application.accounts.rate_limits import Budget, RateLimited, spend
from tests.integration.processes import free_port
from tests.services.session import SERVICES

from .queue_adapters import bounded

ADAPTERS = [
    "memory",
    pytest.param("redis", marks=pytest.mark.production),
    pytest.param("redis-cluster", marks=pytest.mark.production),
]


@pytest.fixture(params=ADAPTERS)
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[LimitsRateLimiter]:
    if request.param == "memory":
        made = LimitsRateLimiter.in_memory()
    else:
        url: str = (
            request.getfixturevalue("redis_url")
            if request.param == "redis"
            else SERVICES.redis_cluster_url
        )
        made = LimitsRateLimiter.on_redis(url, namespace=f"test-{uuid.uuid4().hex[:8]}")
    try:
        yield made
    finally:
        await made.close()


def budget(amount: int, per_s: int = 60) -> Budget:
    # A name of its own per test: keys on Redis outlive a test by their window.
    return Budget(f"test-{uuid.uuid4().hex[:8]}", amount, per_s)


@bounded()
async def test_a_budget_lets_its_amount_through_then_refuses(limiter: LimitsRateLimiter) -> None:
    login = budget(3)
    assert [await limiter.spend(login, "ada", 1) for _ in range(3)] == [None] * 3
    wait = await limiter.spend(login, "ada", 1)
    assert wait is not None
    assert 0 < wait <= 60
    # Keys and budgets are counted apart.
    assert await limiter.spend(login, "grace", 1) is None
    assert await limiter.spend(budget(3), "ada", 1) is None


@bounded()
async def test_a_cost_is_taken_whole_or_not_at_all(limiter: LimitsRateLimiter) -> None:
    workouts = budget(100)
    assert await limiter.spend(workouts, "ada", 60) is None
    assert await limiter.spend(workouts, "ada", 60) is not None
    # The refused 60 took nothing: 40 are still there.
    assert await limiter.spend(workouts, "ada", 40) is None
    assert await limiter.spend(workouts, "ada", 1) is not None


@bounded()
async def test_waiting_the_answered_time_is_enough(limiter: LimitsRateLimiter) -> None:
    short = budget(2, per_s=1)
    for _ in range(2):
        assert await limiter.spend(short, "ada", 1) is None
    wait = await limiter.spend(short, "ada", 1)
    assert wait is not None
    await asyncio.sleep(wait + 0.05)
    assert await limiter.spend(short, "ada", 1) is None


@bounded()
async def test_spend_names_what_was_refused_and_for_how_long(limiter: LimitsRateLimiter) -> None:
    guesses = budget(1)
    await spend(limiter, [(guesses, "ada", "sign-in attempts for this username")])
    with pytest.raises(RateLimited) as refused:
        await spend(limiter, [(guesses, "ada", "sign-in attempts for this username")])
    assert refused.value.message.startswith(
        "too many sign-in attempts for this username (at most 1 per minute); retry in "
    )
    assert 0 < refused.value.retry_after_s <= 60
    # A budget of 0 is no limit.
    for _ in range(5):
        await spend(limiter, [(budget(0), "ada", "anything")])


@pytest.mark.production
@pytest.mark.parametrize("scheme", ["redis", "redis+cluster"])
@bounded()
async def test_an_unreachable_redis_lets_requests_through(scheme: str) -> None:
    # A cluster none of whose nodes answers fails otherwise than a single Redis does.
    limiter = LimitsRateLimiter.on_redis(f"{scheme}://127.0.0.1:{free_port()}", namespace="down")
    try:
        assert await limiter.spend(budget(1), "ada", 1) is None
        assert await limiter.spend(budget(1), "ada", 1) is None
    finally:
        await limiter.close()
