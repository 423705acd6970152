"""The address a request is charged to, for the budgets (application/accounts/rate_limits.py)
that bound sign-ins and sign-ups from one address."""

from __future__ import annotations

from fastapi import Request


def client_address(request: Request) -> str:
    # uvicorn puts the address of the client here, and the one from X-Forwarded-For only
    # when the request came through a trusted proxy (--forwarded-allow-ips).
    return request.client.host if request.client is not None else "unknown"
