"""The sport rules as a new user meets them through the API (issue 13's "done when"), in
both modes: an easy erg row scores what the Compendium says, a 28-hour 100-mile race is
accepted and ranked, a backlog synced newest first gives the records of date order; and
an id of another athlete's is a 409, a bad batch item that item's error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from .conftest import Api


def started(hours_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat()


async def test_an_easy_30_minute_erg_row_scores_what_the_compendium_says(api: Api) -> None:
    # 2:40 /500 m for 30 min is 85 W on a Concept2: Compendium 02071, 4.8 MET. At the
    # default 70 kg: 4.8 x 70 x 0.5 h = 168 kcal, and 24 points. (Before: 12 MET.)
    token, _ = await api.register("rower", weight_kg=70)
    workout_id = await api.submit_ok(
        token, activity="row", started_at=started(2), duration_s=1800, distance_m=5625.0
    )
    done = await api.wait_processed(token, workout_id)
    assert done["calories"] == 168.0
    assert done["points"] == 24


async def test_a_28_hour_100_mile_race_is_accepted_and_ranked(api: Api) -> None:
    token, _ = await api.register("ultra")
    workout_id = await api.submit_ok(
        token,
        activity="run",
        started_at=started(30),
        duration_s=28 * 3600 + 30 * 60,
        distance_m=160_934.0,
        elevation_gain_m=5_500.0,
    )
    done = await api.wait_processed(token, workout_id)
    assert done["status"] == "processed"
    board = await api.board(token, "distance/all")
    assert [(e["score"], e["rank"]) for e in board["entries"]] == [(160_934, 1)]


async def test_a_backlog_synced_newest_first_gives_the_records_of_date_order(api: Api) -> None:
    token, _ = await api.register("syncer")
    # Mon 10 km, Tue 15 km, Wed 12 km, sent Wednesday first (a device's backlog).
    week = {"mon": (80, 10_000.0), "tue": (56, 15_000.0), "wed": (32, 12_000.0)}
    ids = {}
    for day in ("wed", "tue", "mon"):
        hours_ago, distance = week[day]
        ids[day] = await api.submit_ok(
            token, activity="run", started_at=started(hours_ago), duration_s=4500,
            distance_m=distance,
        )  # fmt: skip
        await api.wait_processed(token, ids[day])
    held = await api.client.get("/v1/me/achievements", headers=api.auth(token))
    longest = [a["workout_id"] for a in held.json() if a["id"] == "record-longest-run"]
    assert longest == [ids["tue"]]


async def test_an_id_of_another_athletes_is_a_409_at_ingest(api: Api) -> None:
    ana, _ = await api.register("ana409")
    ben, _ = await api.register("ben409")
    taken = str(uuid4())
    body: dict[str, Any] = {
        "id": taken, "activity": "run", "started_at": started(2), "duration_s": 1800,
    }  # fmt: skip
    assert (await api.submit(ana, **body)).status_code == 202
    refused = await api.submit(ben, **body)  # while Ana's is still in flight, or stored
    assert refused.status_code == 409, refused.text
    assert "another athlete" in refused.text
    await api.wait_processed(ana, taken)
    assert (await api.submit(ben, **body)).status_code == 409
    # Ana sending her own id again is still accepted (and counted once).
    assert (await api.submit(ana, **body)).status_code == 202
    batch = await api.client.post(
        "/v1/workouts:batch", json={"workouts": [body]}, headers=api.auth(ben)
    )
    assert batch.status_code == 207
    assert batch.json()["results"][0]["status"] == "conflict"


async def test_one_malformed_batch_item_is_that_items_error(api: Api) -> None:
    token, _ = await api.register("batch422")
    good = {"activity": "run", "started_at": started(2), "duration_s": 1800}
    response = await api.client.post(
        "/v1/workouts:batch",
        json={"workouts": [good, {**good, "duration_s": "half an hour"}, 7, {**good, "x": 1}]},
        headers=api.auth(token),
    )
    assert response.status_code == 207, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["queued", "invalid", "invalid", "invalid"]
    assert results[1]["error"].startswith("duration_s:")
    assert "x:" in results[3]["error"]
    await api.wait_processed(token, results[0]["id"])


async def test_the_indoor_flag_chooses_the_ergometer_or_the_water(api: Api) -> None:
    # 3,000 m in 30 min is 3.7 mph. On water: Compendium 18040 (2.0-3.9 mph, 2.8 MET),
    # 2.8 x 70 x 0.5 = 98 kcal. On an ergometer the same split (5:00 /500 m) is 13 W:
    # 02071 (4.8 MET), 168 kcal.
    token, _ = await api.register("sculler", weight_kg=70)
    row = {"activity": "row", "started_at": started(2), "duration_s": 1800, "distance_m": 3000.0}
    on_water = await api.submit_ok(token, **row, indoor=False)
    on_erg = await api.submit_ok(token, **{**row, "started_at": started(3)}, indoor=True)
    assert (await api.wait_processed(token, on_water))["calories"] == 98.0
    assert (await api.wait_processed(token, on_erg))["calories"] == 168.0
    refused = await api.submit(token, **row, indoor="yes")
    assert refused.status_code == 422
    assert "indoor" in refused.text
