"""Budgets that bound how fast one caller may try: password guesses, sign-ups, workouts.

A budget is an amount per window (`Budget`), kept per key (an IP address, a username,
an athlete) by a `RateLimiter`. Spending more than is left refuses the request with
`RateLimited`, which says how long until the budget has room again; the API answers it
429 with Retry-After. A budget of 0 is no limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID


@dataclass(frozen=True)
class Budget:
    """`amount` per `per_s` seconds, for keys of one kind (`name`)."""

    name: str
    amount: int
    per_s: int

    @property
    def unlimited(self) -> bool:
        return self.amount <= 0


@dataclass(frozen=True)
class Budgets:
    """Every budget fitboard keeps, as configured."""

    login_per_username: Budget
    login_per_ip: Budget
    registrations_per_ip: Budget
    workouts_per_minute: Budget
    workouts_per_day: Budget


class RateLimiter(Protocol):
    async def spend(self, budget: Budget, key: str, cost: int) -> float | None:
        """Take `cost` from `key`'s budget. None when it had room; otherwise nothing is
        taken and the answer is how many seconds until it has room for this cost."""
        ...

    async def close(self) -> None: ...


class RateLimited(Exception):
    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


async def spend(
    limiter: RateLimiter, charges: Sequence[tuple[Budget, str, str]], cost: int = 1
) -> None:
    """Charge each (budget, key, what the caller did) in turn; raise RateLimited at the
    first that has no room, saying what and for how long."""
    for budget, key, what in charges:
        if budget.unlimited:
            continue
        wait = await limiter.spend(budget, key, cost)
        if wait is not None:
            raise RateLimited(
                f"too many {what} (at most {budget.amount} per {_window(budget.per_s)}); "
                f"retry in {max(1, round(wait))} s",
                wait,
            )


class RateLimits:
    """The budgets charged before a request costs anything: before a password is hashed,
    an account made, a workout queued. Without a limiter (processes that answer no
    requests) nothing is charged."""

    def __init__(self, limiter: RateLimiter | None, budgets: Budgets) -> None:
        self._limiter = limiter
        self._budgets = budgets

    async def charge_sign_in(self, address: str, username: str) -> None:
        if self._limiter is None:
            return
        budgets = self._budgets
        await spend(
            self._limiter,
            [
                (budgets.login_per_ip, address, "sign-in attempts from this address"),
                (
                    budgets.login_per_username,
                    username.casefold(),
                    "sign-in attempts for this username",
                ),
            ],
        )

    async def charge_sign_up(self, address: str) -> None:
        if self._limiter is None:
            return
        await spend(
            self._limiter,
            [(self._budgets.registrations_per_ip, address, "sign-ups from this address")],
        )

    async def charge_workouts(self, athlete: UUID, count: int) -> None:
        if self._limiter is None:
            return
        budgets = self._budgets
        key = str(athlete)
        await spend(
            self._limiter,
            [
                (budgets.workouts_per_minute, key, "workouts from this athlete"),
                (budgets.workouts_per_day, key, "workouts from this athlete"),
            ],
            cost=count,
        )


def _window(seconds: int) -> str:
    names = {60: "minute", 3600: "hour", 86400: "day"}
    return names.get(seconds, f"{seconds} s")
