"""The admin API (../shared/API.md, "Admin"), in both modes: only admins get in; dead
letters are listed with their reason and replayed; boards are rebuilt from the record,
on Redis after deleting the boards of its previous key layout, as `fitboard rebuild`
does."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import redis.asyncio as redis

from fitboard.application.messaging.ports import Message
from fitboard.application.workouts.messages import WORKOUT_SUBMITTED
from tests.e2e.conftest import Api, run_at
from tests.services.session import SERVICES

PRODUCTION = [pytest.param("production", marks=pytest.mark.production)]
GROUP = "6f9619ff-8b86-d011-b42d-00cf4fc964ff"

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


@pytest.mark.parametrize("api", PRODUCTION, indirect=True)
async def test_a_rebuild_removes_the_old_key_layout_and_rebuilds_what_it_held_loaded(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, _ = await api.register("ada")
    await api.promote("ada")
    assert api.app is not None
    ns = api.app.state.container.settings.namespace
    # The app's clock stands still: each rebuild also loads the current period of every
    # global and activity board, and a day turning between the two below would add the
    # new day's boards to the second.
    clock = api.app.state.container.clock
    frozen = clock.now()
    monkeypatch.setattr(clock, "now", lambda: frozen)
    # Boards as key layout 1 left them (ids as text, no `:2` marker): a group's board of
    # a past week, loaded, and its all-time board, never loaded (its keys would never
    # expire); neither is among the boards a rebuild always loads.
    group = f"{ns}:{{board:calories:week:group:{GROUP}:2025-W10}}"
    unloaded = f"{ns}:{{board:points:all:group:{GROUP}:all}}"
    old = [f"{group}:{k}" for k in ("z", "v", "ready")]
    old += [f"{unloaded}:{k}" for k in ("z", "v")]
    other = "other-deployment:{board:points:all:global:all}:z"
    member = "0b0f1c5e-2f4a-4f43-9a1e-8f5d3c2b1a09"
    client = redis.Redis.from_url(SERVICES.redis_url)
    try:
        for name in [*old, other]:
            if name.endswith(":z"):
                await client.zadd(name, {member: 7})
            elif name.endswith(":v"):
                await client.hset(name, member, 1)
            else:
                await client.set(name, "1")

        rebuilt = await api.client.post("/v1/admin/leaderboards/rebuild", headers=api.auth(token))

        assert rebuilt.status_code == 200, rebuilt.text
        assert await client.exists(*old) == 0
        assert await client.exists(other) == 1
        # Loaded again in the new layout, empty (the record holds no workout): marked "0".
        assert await client.get(f"{group}:2:ready") == b"0"
        assert not await client.exists(f"{unloaded}:2:ready")
        # Loaded now in the new layout, the group's board is rebuilt again as any loaded
        # board: as many boards the second time.
        again = await api.client.post("/v1/admin/leaderboards/rebuild", headers=api.auth(token))
        assert again.status_code == 200, again.text
        assert again.json()["boards"] == rebuilt.json()["boards"]
    finally:
        await client.aclose()
