"""Two API processes of one production deployment (two apps on the session's servers):
a token revoked through one (signing out, a new password, the account deleted) is
refused by the other as soon as the revocation is heard on Redis, not after
REVOCATION_DELAY_S. The other's clock stands still, so that only the message can make
it read the athlete's generation again."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI

from fitboard.entrypoints.api import create_app
from fitboard.entrypoints.api.athletes import KnownAthletes
from tests.e2e.conftest import Api
from tests.services.running import eventually

PRODUCTION = [pytest.param("production", marks=pytest.mark.production)]


class StillClock:
    def __call__(self) -> float:
        return 1000.0


@contextlib.asynccontextmanager
async def other_process(api: Api) -> AsyncIterator[tuple[httpx.AsyncClient, KnownAthletes]]:
    """A second API app on the first one's settings, whose KnownAthletes never ages."""
    assert api.app is not None
    app: FastAPI = create_app(api.app.state.container.settings)
    known = KnownAthletes(clock=StillClock())
    app.state.athletes = known
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://fitboard") as client:
            # Heard once a heartbeat has come through its subscription.
            await eventually(lambda: known.hearing, within_s=10, every_s=0.01)
            yield client, known


async def _status(client: httpx.AsyncClient, token: str) -> int:
    return (await client.get("/v1/me", headers=Api.auth(token))).status_code


async def _sign_out(api: Api, token: str) -> None:
    response = await api.client.post("/v1/auth/logout", headers=api.auth(token))
    assert response.status_code == 204, response.text


async def _change_password(api: Api, token: str) -> None:
    body = {"current_password": "correct horse battery", "new_password": "a brand new secret 42"}
    response = await api.client.post("/v1/auth/password", json=body, headers=api.auth(token))
    assert response.status_code == 200, response.text


async def _delete(api: Api, token: str) -> None:
    response = await api.client.delete("/v1/me", headers=api.auth(token))
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("api", PRODUCTION, indirect=True)
@pytest.mark.parametrize("revoke", [_sign_out, _change_password, _delete])
async def test_a_token_revoked_in_one_process_is_refused_by_another_once_heard(
    api: Api, revoke: Callable[[Api, str], Awaitable[None]]
) -> None:
    token, _ = await api.register("ada")
    async with other_process(api) as (other, known):
        assert await _status(other, token) == 200  # its generation, read and kept
        assert len(known) == 1

        await revoke(api, token)

        assert await _status(api.client, token) == 401
        # No time passes on its clock: without the message it would accept forever.
        await eventually(lambda: len(known) == 0, within_s=10, every_s=0.01)
        assert await _status(other, token) == 401
