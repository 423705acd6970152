"""Badges, monthly reports and challenges through the API, in both modes."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.e2e.conftest import Api, run_at, run_outside_early_bird


async def achievements_of(api: Api, token: str) -> list[dict[str, Any]]:
    response = await api.client.get("/v1/me/achievements", headers=api.auth(token))
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()
    return data


async def test_a_first_5k_run_earns_first_workout_and_5k_once_however_often_resent(
    api: Api,
) -> None:
    token, _ = await api.register("newbie")
    payload: dict[str, Any] = {"id": str(uuid.uuid4()), "activity": "run",
               "started_at": run_outside_early_bird(3), "duration_s": 1800,
               "distance_m": 5000}  # fmt: skip
    for _ in range(3):
        assert (await api.submit(token, **payload)).status_code == 202
    workout = await api.wait_processed(token, payload["id"])
    assert sorted(workout["achievements"]) == ["first-workout", "run-5k"]
    # Let any redelivered copies finish before counting.
    await api.wait_processed(token, await api.submit_ok(
        token, activity="yoga", started_at=run_outside_early_bird(1), duration_s=600))  # fmt: skip
    held = await achievements_of(api, token)
    assert sorted(h["id"] for h in held) == ["first-workout", "run-5k"]
    five_k = next(h for h in held if h["id"] == "run-5k")
    assert five_k["name"] == "5K"
    assert five_k["workout_id"] == payload["id"]
    catalog = await api.client.get("/v1/achievements", headers=api.auth(token))
    by_id = {a["id"]: a for a in catalog.json()}
    assert by_id["run-5k"]["held"] is True
    assert by_id["workouts-10"]["held"] is False
    assert by_id["workouts-10"]["progress"] == 0.2  # 2 of 10 workouts
    assert 0 < by_id["run-total-100k"]["progress"] < 0.1


async def test_a_flagged_workout_earns_nothing(api: Api) -> None:
    token, _ = await api.register("cheater")
    workout_id = await api.submit_ok(token, activity="run", started_at=run_at(2),
                                     duration_s=600, distance_m=5000)  # fmt: skip
    workout = await api.wait_processed(token, workout_id)
    assert workout["status"] == "flagged"
    assert workout["achievements"] == []
    assert await achievements_of(api, token) == []


async def test_a_personal_record_is_earned_when_beaten_not_when_tied(api: Api) -> None:
    token, _ = await api.register("improver")
    first = await api.submit_ok(token, activity="run", started_at=run_at(30),
                                duration_s=2400, distance_m=8000)  # fmt: skip
    await api.wait_processed(token, first)
    tie = await api.submit_ok(token, activity="run", started_at=run_at(20),
                              duration_s=2500, distance_m=8000)  # fmt: skip
    assert "record-longest-run" not in (await api.wait_processed(token, tie))["achievements"]
    longer = await api.submit_ok(token, activity="run", started_at=run_at(10),
                                 duration_s=3000, distance_m=9000)  # fmt: skip
    assert "record-longest-run" in (await api.wait_processed(token, longer))["achievements"]


async def test_the_monthly_report_is_kept_by_its_own_consumer(api: Api) -> None:
    token, _ = await api.register("reporter")
    started = run_at(2)
    workout_id = await api.submit_ok(token, activity="cycle", started_at=started,
                                     duration_s=3600, distance_m=25000)  # fmt: skip
    await api.wait_processed(token, workout_id)
    month = started[:7]
    async with asyncio.timeout(10):
        while True:
            # The month the report is read in (the board time zone is UTC), unless it turned
            # during the read: then the read is made again.
            read_in = datetime.now(UTC).strftime("%Y-%m")
            response = await api.client.get(f"/v1/me/reports/{month}", headers=api.auth(token))
            if response.status_code == 200:
                if datetime.now(UTC).strftime("%Y-%m") == read_in:
                    break
                continue
            assert response.status_code == 404, response.text
            await asyncio.sleep(0.05)
    report = response.json()
    assert report["month"] == month
    assert report["workouts"] == 1
    assert report["active_days"] == 1
    assert report["distance_m"] == 25000
    assert report["by_activity"]["cycle"]["workouts"] == 1
    assert report["best_workout"]["id"] == workout_id
    # Open while it lasts. Before 02:00 UTC on the 1st the ride of two hours ago was in the
    # month before, which closed at midnight (its final ranks wait out the day's grace).
    assert report["closed"] is (month < read_in)
    assert report["final_rank"] is None
    bad = await api.client.get("/v1/me/reports/2026-13", headers=api.auth(token))
    assert bad.status_code == 422
    empty = await api.client.get("/v1/me/reports/2001-01", headers=api.auth(token))
    assert empty.status_code == 404


async def test_challenges_over_a_custom_window(api: Api) -> None:
    boss, _ = await api.register("organiser")
    runner, runner_user = await api.register("contender")
    walker, _ = await api.register("stroller")
    now = datetime.now(UTC)
    body = {"name": "Weekend 10K", "metric": "distance", "goal": 10000,
            "starts_at": (now - timedelta(hours=6)).isoformat(),
            "ends_at": (now + timedelta(days=2)).isoformat()}  # fmt: skip
    refused = await api.client.post("/v1/challenges", json=body, headers=api.auth(boss))
    assert refused.status_code == 403
    await api.promote("organiser")
    created = await api.client.post("/v1/challenges", json=body, headers=api.auth(boss))
    assert created.status_code == 201, created.text
    challenge = created.json()
    assert challenge["goal"] == 10000
    before = await api.submit_ok(runner, activity="run", started_at=run_at(8),
                                 duration_s=1800, distance_m=5000)  # fmt: skip
    inside = await api.submit_ok(runner, activity="run", started_at=run_at(2),
                                 duration_s=1800, distance_m=6000)  # fmt: skip
    walk = await api.submit_ok(walker, activity="walk", started_at=run_at(3),
                               duration_s=3600, distance_m=5000)  # fmt: skip
    for token, workout_id in ((runner, before), (runner, inside), (walker, walk)):
        await api.wait_processed(token, workout_id)
    board = await api.client.get(f"/v1/challenges/{challenge['id']}/leaderboard",
                                 headers=api.auth(walker))  # fmt: skip
    assert board.status_code == 200
    data = board.json()
    assert data["period"] == "challenge"
    assert data["challenge"]["name"] == "Weekend 10K"
    assert [(e["rank"], e["display_name"], e["score"]) for e in data["entries"]] == [
        (1, "contender", 6000), (2, "stroller", 5000)]  # fmt: skip
    assert data["entries"][0]["user_id"] == runner_user["id"]
    listed = await api.client.get("/v1/challenges", headers=api.auth(runner))
    assert [c["id"] for c in listed.json()] == [challenge["id"]]
    bad = dict(body, ends_at=body["starts_at"])
    invalid = await api.client.post("/v1/challenges", json=bad, headers=api.auth(boss))
    assert invalid.status_code == 422
