"""Charging a request to its budgets (application/rate_limits.py) before it costs anything:
before a password is hashed, an account made, a workout queued."""

from __future__ import annotations

from uuid import UUID

from fastapi import Request

from fitboard.application.accounts.rate_limits import spend
from fitboard.bootstrap import Container


def client_address(request: Request) -> str:
    # uvicorn puts the address of the client here, and the one from X-Forwarded-For only
    # when the request came through a trusted proxy (--forwarded-allow-ips).
    return request.client.host if request.client is not None else "unknown"


async def charge_sign_in(request: Request, container: Container, username: str) -> None:
    if container.rate_limiter is None or container.budgets is None:
        return
    budgets = container.budgets
    await spend(
        container.rate_limiter,
        [
            (budgets.login_per_ip, client_address(request), "sign-in attempts from this address"),
            (budgets.login_per_username, username.casefold(), "sign-in attempts for this username"),
        ],
    )


async def charge_sign_up(request: Request, container: Container) -> None:
    if container.rate_limiter is None or container.budgets is None:
        return
    budgets = container.budgets
    await spend(
        container.rate_limiter,
        [(budgets.registrations_per_ip, client_address(request), "sign-ups from this address")],
    )


async def charge_workouts(container: Container, athlete: UUID, count: int) -> None:
    if container.rate_limiter is None or container.budgets is None:
        return
    budgets = container.budgets
    key = str(athlete)
    await spend(
        container.rate_limiter,
        [
            (budgets.workouts_per_minute, key, "workouts from this athlete"),
            (budgets.workouts_per_day, key, "workouts from this athlete"),
        ],
        cost=count,
    )
