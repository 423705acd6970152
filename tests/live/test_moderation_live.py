"""Moderation and corrections move the boards live (issue 14): whoever watches a board
sees a flagged workout arrive once an admin approves it, and leave once its athlete
deletes it, without reloading."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Api, run_at

from .conftest import LiveServer

BOARD = "distance/all/global"
# Faster than the 5 km world record: stored flagged, off every board.
TOO_FAST = {"activity": "run", "duration_s": 600, "distance_m": 5000}


def lists(user_id: str) -> Any:
    return lambda snapshot: any(e["user_id"] == user_id for e in snapshot["entries"])


async def test_an_approved_workout_arrives_and_a_deleted_one_leaves_live(live: LiveServer) -> None:
    api = Api(live.api.client, live.app)
    root, _ = await api.register("root")
    await api.promote("root")
    token, ada = await api.register("ada")
    watcher = await live.connect((await api.register("bob"))[0])
    assert await watcher.subscribe(BOARD) == {"ok": True}
    await watcher.wait_for("leaderboard:update")  # the snapshot

    workout_id = await api.submit_ok(token, started_at=run_at(), **TOO_FAST)
    assert (await api.wait_processed(token, workout_id))["status"] == "flagged"
    assert not watcher.received("leaderboard:update")[-1]["entries"]

    approved = await api.client.post(
        f"/v1/admin/workouts/{workout_id}/approve", json={}, headers=api.auth(root)
    )
    assert approved.status_code == 202, approved.text
    arrived = await watcher.wait_for("leaderboard:update", lists(ada["id"]))
    [entry] = [e for e in arrived["entries"] if e["user_id"] == ada["id"]]
    assert entry["rank"] == 1

    deleted = await api.client.delete(f"/v1/workouts/{workout_id}", headers=api.auth(token))
    assert deleted.status_code == 202, deleted.text
    left = await watcher.wait_for(
        "leaderboard:update",
        lambda s: s["version"] > arrived["version"] and not lists(ada["id"])(s),
    )
    assert left["entries"] == []
