"""The admin API (../shared/API.md, "Admin"), in both modes: only admins get in; dead
letters are listed with their reason and replayed; boards are rebuilt from the record."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from fitboard.application.messaging.ports import Message
from fitboard.application.workouts.messages import WORKOUT_SUBMITTED
from tests.e2e.conftest import Api, run_at

ADMIN_CALLS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/v1/admin/leaderboards/rebuild", None),
    ("GET", "/v1/admin/dead-letters", None),
    ("POST", "/v1/admin/dead-letters/replay", {}),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
async def test_only_admins_get_in(
    api: Api, method: str, path: str, body: dict[str, Any] | None
) -> None:
    anonymous = await api.client.request(method, path, json=body)
    assert anonymous.status_code == 401
    token, _ = await api.register("ada")
    athlete = await api.client.request(method, path, json=body, headers=api.auth(token))
    assert athlete.status_code == 403, athlete.text
    assert "fitboard users promote" in athlete.json()["detail"]
    await api.promote("ada")
    admin = await api.client.request(method, path, json=body, headers=api.auth(token))
    assert admin.status_code == 200, admin.text


async def dead_letters(api: Api, token: str, count: int) -> list[dict[str, Any]]:
    async with asyncio.timeout(30):
        while True:
            answer = await api.client.get("/v1/admin/dead-letters", headers=api.auth(token))
            assert answer.status_code == 200, answer.text
            items: list[dict[str, Any]] = answer.json()["items"]
            if len(items) >= count:
                return items
            await asyncio.sleep(0.1)


async def test_dead_letters_are_listed_with_their_reason_and_replayed(api: Api) -> None:
    token, _ = await api.register("ada")
    await api.promote("ada")
    assert api.app is not None
    broker = api.app.state.container.broker
    # A message that can never succeed, straight on the queue: the worker dead-letters it.
    poison = Message(WORKOUT_SUBMITTED, b'{"v": 1, "id": "not-a-uuid"}', str(uuid.uuid4()))
    await broker.publish(poison)
    [letter] = await dead_letters(api, token, 1)
    assert letter["message_id"] == poison.message_id
    assert letter["routing_key"] == WORKOUT_SUBMITTED
    assert "malformed workout message" in letter["reason"]
    assert letter["attempts"] == 1

    other = await api.client.post(
        "/v1/admin/dead-letters/replay", json={"ids": ["no-such-id"]}, headers=api.auth(token)
    )
    assert other.json() == {"replayed": 0}
    replayed = await api.client.post(
        "/v1/admin/dead-letters/replay", json={"ids": [poison.message_id]}, headers=api.auth(token)
    )
    assert replayed.status_code == 200, replayed.text
    assert replayed.json() == {"replayed": 1}
    # Still poison: back in the dead letters once the worker has tried it again.
    [again] = await dead_letters(api, token, 1)
    assert again["message_id"] == poison.message_id


async def test_a_rebuild_reloads_the_boards_from_the_record(api: Api) -> None:
    token, user = await api.register("ada")
    await api.promote("ada")
    workout_id = await api.submit_ok(
        token, activity="run", started_at=run_at(), duration_s=1800, distance_m=5000
    )
    processed = await api.wait_processed(token, workout_id)
    rebuilt = await api.client.post("/v1/admin/leaderboards/rebuild", headers=api.auth(token))
    assert rebuilt.status_code == 200, rebuilt.text
    assert rebuilt.json()["boards"] > 0
    assert rebuilt.json()["entries"] >= 1
    board = await api.board(token, "points/all")
    assert [(e["user_id"], e["score"]) for e in board["entries"]] == [
        (user["id"], processed["points"])
    ]
