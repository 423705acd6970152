"""POST /v1/workouts/import through the whole product, in both modes: files in, workouts
on the boards, duplicates recognised, bad files refused with a reason."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from fit_tool.profile.profile_type import Sport

from fitboard.application.imports.importing import workout_id_for
from fitboard.application.workouts.ingest import SubmitWorkout
from fitboard.application.workouts.processing import Processing
from fitboard.domain.activities import Activity
from fitboard.domain.recordings import FileFormat, Recording
from tests import activity_files as af
from tests.e2e.conftest import Api

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "activities"


async def upload(
    api: Api, token: str, name: str, data: bytes, activity: str | None = None
) -> httpx.Response:
    return await api.client.post(
        "/v1/workouts/import",
        files={"file": (name, data)},
        data={"activity": activity} if activity else None,
        headers=api.auth(token),
    )


async def imported(api: Api, token: str, name: str, data: bytes, **form: Any) -> dict[str, Any]:
    response = await upload(api, token, name, data, **form)
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/v1/workouts/{response.json()['id']}"
    return await api.wait_processed(token, response.json()["id"])


async def distance_board(api: Api, token: str) -> list[tuple[str, int]]:
    board = await api.board(token, "distance/all")
    return [(e["display_name"], e["score"]) for e in board["entries"]]


async def test_a_fit_run_becomes_a_workout_with_its_figures_and_counts_once(api: Api) -> None:
    token, _ = await api.register("watch", weight_kg=70)
    track = af.Track(af.hours_ago(5), 1800, speed_m_s=3.0, heart_rate=152)
    data = af.fit(track, calories=410)
    workout = await imported(api, token, "morning.fit", data)
    assert workout["status"] == "processed"
    assert (workout["activity"], workout["duration_s"]) == ("run", 1800)
    assert workout["distance_m"] == pytest.approx(5400)
    assert workout["avg_heart_rate"] == 152
    assert workout["source"] == "fit"
    assert workout["device_calories"] == 410  # the device's figure, kept
    assert workout["calories"] != 410  # fitboard's own estimate is what ranks
    assert workout["recording"]["file_name"] == "morning.fit"
    assert workout["recording"]["device_distance_m"] == pytest.approx(5400)
    assert workout["recording"]["max_heart_rate"] == 152
    before = await distance_board(api, token)
    assert before == [("watch", 5400)]

    again = await upload(api, token, "morning.fit", data)
    assert again.status_code == 409, again.text
    assert again.json()["id"] == workout["id"]
    as_gpx = await upload(api, token, "morning.gpx", af.gpx(track))
    assert as_gpx.status_code == 409, as_gpx.text
    assert as_gpx.json()["id"] == workout["id"]
    assert await distance_board(api, token) == before


async def test_a_typed_in_workout_then_its_file_is_one_workout(api: Api) -> None:
    token, _ = await api.register("typist")
    track = af.Track(af.hours_ago(8), 2400, speed_m_s=6.0)
    # Typed in from memory: started a minute later, rounded duration and distance.
    typed = await api.submit_ok(
        token,
        activity="cycle",
        started_at=(track.start + timedelta(minutes=1)).isoformat(),
        duration_s=2300,
        distance_m=14000,
    )
    await api.wait_processed(token, typed)
    response = await upload(api, token, "ride.tcx", af.tcx(track, sport="Biking"))
    assert response.status_code == 409, response.text
    assert response.json()["id"] == typed
    # Another sport at the same time is another workout.
    other = await upload(api, token, "ride.gpx", af.gpx(track), activity="row")
    assert other.status_code == 202, other.text


async def test_a_file_then_its_typed_in_workout_is_one_workout(api: Api) -> None:
    """The other order: the typed-in duplicate is stored rejected, naming the file's
    workout, and a redelivery of either changes nothing."""
    token, _ = await api.register("importer")
    track = af.Track(af.hours_ago(8), 2400, speed_m_s=3.0)
    original = await imported(api, token, "run.fit", af.fit(track))
    assert original["status"] == "processed"
    before = await distance_board(api, token)
    assert before == [("importer", 7200)]
    # Typed in from memory afterwards: a minute later, rounded.
    typed_id = await api.submit_ok(
        token,
        activity="run",
        started_at=(track.start + timedelta(minutes=1)).isoformat(),
        duration_s=2300,
        distance_m=7000,
    )
    typed = await api.wait_processed(token, typed_id)
    assert typed["source"] == "manual"
    assert typed["status"] == "rejected"
    assert typed["flag_reason"] == (
        f"the same activity as workout {original['id']}, which already counts"
    )
    assert await distance_board(api, token) == before
    # Another sport at the same time, typed in, is another workout.
    ride_id = await api.submit_ok(
        token, activity="cycle", started_at=track.start.isoformat(), duration_s=2400
    )
    assert (await api.wait_processed(token, ride_id))["status"] == "processed"

    # Redelivered, in either order, each keeps what it was and nothing counts twice.
    assert api.app is not None
    container = api.app.state.container
    processing = Processing(
        container.store,
        container.ranking,
        container.inflight,
        container.clock,
        container.rules,
        container.achievement_rules,
    )
    async with container.store.unit_of_work(read_only=True) as uow:
        stored = [await uow.workouts.get(UUID(i)) for i in (typed_id, original["id"])]
    for workout in stored:
        assert workout is not None
        processed = await processing.process_submission(workout.submission)
        assert processed.duplicate
        assert processed.workout.status == workout.status
    assert await distance_board(api, token) == before


async def test_a_ride_with_an_hour_at_a_cafe_earns_two_hours_of_riding(api: Api) -> None:
    token, _ = await api.register("cafe", weight_kg=70)
    ride = af.Track(af.hours_ago(9), 3600, speed_m_s=6.0, heart_rate=150)
    cafe = af.Track(ride.end, 3600, speed_m_s=0.0, heart_rate=90, lat0=ride.end_lat)
    again = af.Track(cafe.end, 3600, speed_m_s=6.0, heart_rate=150, lat0=ride.end_lat)
    workout = await imported(api, token, "cafe.gpx", af.gpx([ride, cafe, again], "cycling"))
    assert (workout["duration_s"], workout["avg_heart_rate"]) == (7200, 150)
    # The time at the cafe is still told: the recording lasted three hours.
    assert workout["recording"]["elapsed_time_s"] == 3 * 3600
    # 6 m/s (13.4 mph) while moving: Compendium 01030, 8.0 MET, for two hours at 70 kg.
    # Over the elapsed three hours it would be 4 m/s, 4.0 MET: 840 kcal of cafe.
    assert (workout["calories_method"], workout["calories"]) == ("met", 8.0 * 70 * 2)
    assert workout["distance_m"] == pytest.approx(43200, rel=1e-4)


async def test_a_multisport_file_is_one_workout_per_leg(api: Api) -> None:
    token, _ = await api.register("triathlete")
    swim = af.Track(af.hours_ago(10), 900, speed_m_s=1.1)
    ride = af.Track(swim.end + timedelta(seconds=120), 3600, speed_m_s=8.0)
    legs = [
        (Sport.SWIMMING, swim),
        (Sport.TRANSITION, af.Track(swim.end, 119)),
        (Sport.CYCLING, ride),
    ]
    response = await upload(api, token, "tri.fit", af.fit(legs))
    assert response.status_code == 202, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["queued", "queued"]
    workouts = [await api.wait_processed(token, r["id"]) for r in results]
    assert [(w["activity"], w["duration_s"]) for w in workouts] == [("swim", 900), ("cycle", 3600)]


async def test_an_archive_answers_for_each_file(api: Api) -> None:
    token, _ = await api.register("exporter")
    first = af.Track(af.hours_ago(30), 600)
    second = af.Track(af.hours_ago(20), 900, speed_m_s=5.0)
    response = await upload(
        api,
        token,
        "export.zip",
        af.zipped(
            {
                "a.gpx": af.gpx(first),
                "a-again.fit": af.fit(first),
                "notes.txt": b"not an activity",
                "untyped.gpx": af.gpx(second, kind=None),
                "b.fit": af.fit(second, sport=Sport.CYCLING),
            }
        ),
    )
    assert response.status_code == 207, response.text
    results = response.json()["results"]
    assert [(r["file"], r["status"]) for r in results] == [
        ("a.gpx", "queued"),
        ("a-again.fit", "duplicate"),
        ("notes.txt", "invalid"),
        ("untyped.gpx", "invalid"),
        ("b.fit", "queued"),
    ]
    assert results[1]["id"] == results[0]["id"]
    assert "`activity`" in results[3]["error"]
    for result in (results[0], results[4]):
        assert (await api.wait_processed(token, result["id"]))["status"] == "processed"


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("corrupt.fit", af.fit(af.Track(af.hours_ago(3), 60))[:-30], "truncated"),
        ("nothing.gpx", b"", "is empty"),
        ("bomb.gpx", b'<!DOCTYPE g [<!ENTITY a "aa">]><gpx>&a;</gpx>', "document type"),
        ("escape.zip", af.zipped({"../evil.gpx": b"<gpx/>"}), "unsafe path"),
    ],
)
async def test_a_bad_file_is_a_422_with_its_reason_and_nothing_is_saved(
    api: Api, name: str, data: bytes, reason: str
) -> None:
    token, _ = await api.register("unlucky")
    response = await upload(api, token, name, data)
    assert response.status_code == 422, response.text
    assert reason in response.json()["detail"]
    listing = await api.client.get("/v1/workouts", headers=api.auth(token))
    assert listing.json()["items"] == []


async def test_a_file_without_a_sport_needs_the_activity_field(api: Api) -> None:
    token, _ = await api.register("untyped")
    data = af.gpx(af.Track(af.hours_ago(4), 600), kind=None)
    refused = await upload(api, token, "walk.gpx", data)
    assert refused.status_code == 422
    assert "activity" in refused.json()["detail"]
    workout = await imported(api, token, "walk.gpx", data, activity="walk")
    assert workout["activity"] == "walk"


async def test_two_files_of_one_activity_that_race_past_the_route_count_once(api: Api) -> None:
    """Both reach the queue (as two uploads at once would); the worker keeps one."""
    token, user = await api.register("racer")
    assert api.app is not None
    container = api.app.state.container
    track = af.Track(af.hours_ago(6), 1200)
    user_id = UUID(user["id"])
    ids = []
    for file_format, identity in ((FileFormat.GPX, "sha256:aa"), (FileFormat.FIT, "fit:x:1:t")):
        command = SubmitWorkout(
            id=workout_id_for(user_id, identity),
            user_id=user_id,
            activity=Activity.RUN,
            started_at=track.start,
            duration_s=track.seconds,
            distance_m=track.distance_m,
            source=file_format.value,
            recording=Recording(file_format, f"run.{file_format.value}", identity),
        )
        ids.append(await container.services.ingest.submit_workout(command))
    both = [await api.wait_processed(token, str(i)) for i in ids]
    # Which one is kept is whichever the worker records first: in production the two may
    # be in two batches in flight at once, and either batch may lock the athlete first.
    kept = [w for w in both if w["status"] == "processed"]
    rejected = [w for w in both if w["status"] == "rejected"]
    assert len(kept) == 1, both
    assert len(rejected) == 1, both
    assert kept[0]["id"] in rejected[0]["flag_reason"]
    assert await distance_board(api, token) == [("racer", 3600)]


async def test_an_upload_over_its_limit_is_a_413(api: Api) -> None:
    token, _ = await api.register("hoarder")
    assert api.app is not None
    limit = api.app.state.container.settings.import_max_bytes
    response = await upload(api, token, "huge.gpx", b"<" * (limit + 1))
    assert response.status_code == 413
    assert "split a large archive" in response.json()["detail"]


async def test_real_recordings_of_a_watch_run_and_a_gpx_ride(api: Api) -> None:
    run_path, ride_path = REFERENCE / "run_fenix5x_stryd.fit", REFERENCE / "ride_garmin-connect.gpx"
    if not run_path.exists():
        pytest.skip(f"the reference recordings are not at {REFERENCE}")
    token, _ = await api.register("newcomer", weight_kg=68)
    run = await imported(api, token, run_path.name, run_path.read_bytes())
    # The workout lasts its moving time (1680 s elapsed; docs/import.md, "Moving time").
    assert (run["activity"], run["duration_s"], run["avg_heart_rate"]) == ("run", 1662, 158)
    assert run["recording"]["moving_time_s"] == run["duration_s"]
    assert run["recording"]["elapsed_time_s"] == 1680
    assert run["distance_m"] == pytest.approx(5383.2, rel=0.01)
    assert run["status"] == "processed"
    ride = await imported(api, token, ride_path.name, ride_path.read_bytes())
    assert (ride["activity"], ride["duration_s"], ride["avg_heart_rate"]) == ("cycle", 2272, 142)
    assert ride["distance_m"] == pytest.approx(5768.8, rel=0.01)
    board = await api.board(token, "calories/all")
    assert board["entries"][0]["score"] == round(run["calories"] + ride["calories"])
    again = await upload(api, token, run_path.name, run_path.read_bytes())
    assert again.status_code == 409
    assert (await api.board(token, "calories/all"))["entries"] == board["entries"]


async def test_mutated_files_never_get_a_5xx_nor_stop_the_worker(api: Api) -> None:
    token, _ = await api.register("fuzzer")
    rng = random.Random(15)
    seeds = [af.gpx(af.Track(af.hours_ago(40), 60)), af.tcx(af.Track(af.hours_ago(41), 60))]
    seeds.append(af.fit(af.Track(af.hours_ago(42), 60)))
    for attempt in range(30):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        response = await upload(api, token, f"fuzz-{attempt}", bytes(data))
        assert response.status_code in (202, 409, 422), response.text
    # The worker is alive: a good file after them all is processed.
    workout = await imported(api, token, "after.fit", af.fit(af.Track(af.hours_ago(2), 300)))
    assert workout["status"] == "processed"
