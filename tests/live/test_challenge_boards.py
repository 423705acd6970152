"""A challenge's board, live (API.md "Live updates", and its challenge rooms): subscribe
with the challenge's id under the rule of `GET /v1/challenges/{id}/leaderboard`, get a
snapshot, then a new snapshot when a workout in the challenge moves it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from .conftest import LiveServer
from .test_socketio import run


async def group_challenge(live: LiveServer, owner: str) -> tuple[str, str]:
    """A group of `owner`'s and a distance challenge for it, open from yesterday to
    tomorrow; (group, challenge) ids."""
    auth = live.api.auth(owner)
    group = await live.api.client.post("/v1/groups", json={"name": "Harbour"}, headers=auth)
    assert group.status_code == 201, group.text
    group_id: str = group.json()["id"]
    now = datetime.now(UTC)
    body = {
        "name": "Harbour distance",
        "metric": "distance",
        "starts_at": (now - timedelta(days=1)).isoformat(),
        "ends_at": (now + timedelta(days=1)).isoformat(),
        "scope": f"group:{group_id}",
    }
    challenge = await live.api.client.post("/v1/challenges", json=body, headers=auth)
    assert challenge.status_code == 201, challenge.text
    challenge_id: str = challenge.json()["id"]
    return group_id, challenge_id


async def test_a_challenge_board_is_live_for_those_who_may_read_it(live: LiveServer) -> None:
    owner, owner_user = await live.api.register("owner", display_name="Olga")
    stranger, _ = await live.api.register("stranger")
    _, challenge_id = await group_challenge(live, owner)
    board = f"challenge:{challenge_id}"

    # Not a member of the group: the challenge does not exist for them, as over HTTP.
    outsider = await live.connect(stranger)
    assert await outsider.call("subscribe", {"challenge": challenge_id}) == {
        "ok": False,
        "error": "no such challenge",
    }
    assert await outsider.call("subscribe", {"challenge": str(uuid.uuid4())}) == {
        "ok": False,
        "error": "no such challenge",
    }
    refused = await outsider.call("subscribe", {"challenge": "not-an-id"})
    assert refused["ok"] is False
    assert "challenge" in refused["error"]

    member = await live.connect(owner)
    assert await member.call("subscribe", {"challenge": challenge_id}) == {"ok": True}
    empty = await member.wait_for("leaderboard:update", lambda s: s["board"] == board)
    assert empty["period_key"] == challenge_id
    assert empty["entries"] == []

    workout_id = await run(live, owner, 30)
    moved = await member.wait_for(
        "leaderboard:update", lambda s: s["board"] == board and s["entries"] != []
    )
    stored = await live.api.wait_processed(owner, workout_id)
    over_http = await live.api.client.get(
        f"/v1/challenges/{challenge_id}/leaderboard", headers=live.api.auth(owner)
    )
    assert moved["entries"] == over_http.json()["entries"]
    assert moved["entries"] == [
        {
            "rank": 1,
            "user_id": owner_user["id"],
            "display_name": "Olga",
            "score": round(stored["distance_m"]),
        }
    ]
    assert moved["version"] > empty["version"]
    assert outsider.received("leaderboard:update") == []

    assert await member.call("unsubscribe", {"challenge": challenge_id}) == {"ok": True}
