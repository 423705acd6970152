"""Live connections of a session that ends (docs/accounts.md, "Live connections"): the API
process that signs an athlete out, changes their password or deletes their account closes
the connections it holds of theirs, and the revoked token cannot open a new one."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from .conftest import LiveClient, LiveServer

BOARD = "calories/all/global"


def closed(connection: LiveClient) -> asyncio.Event:
    gone = asyncio.Event()

    async def on_disconnect(reason: Any = None) -> None:
        gone.set()

    connection.client.on("disconnect", on_disconnect)
    return gone


@pytest.mark.parametrize(
    ("method", "path", "body", "refusal"),
    [
        ("POST", "/v1/auth/logout", None, "the token was revoked"),
        (
            "POST",
            "/v1/auth/password",
            {"current_password": "correct horse battery", "new_password": "seven purple giraffes"},
            "the token was revoked",
        ),
        ("DELETE", "/v1/me", None, "does not exist"),
    ],
)
async def test_ending_the_session_closes_the_athletes_connections_and_no_one_elses(
    live: LiveServer, method: str, path: str, body: dict[str, str] | None, refusal: str
) -> None:
    ada, _ = await live.api.register("ada")
    bob, _ = await live.api.register("bob")
    ada_connection = await live.connect(ada)
    bob_connection = await live.connect(bob)
    gone = closed(ada_connection)
    assert await ada_connection.subscribe(BOARD) == {"ok": True}

    answer = await live.api.client.request(method, path, json=body, headers=live.api.auth(ada))

    assert answer.is_success, answer.text
    await asyncio.wait_for(gone.wait(), timeout=10)
    assert not ada_connection.client.connected
    assert bob_connection.client.connected
    assert await bob_connection.subscribe(BOARD) == {"ok": True}
    assert refusal in await live.refusal(ada)
