"""Forms check what the API checks, say it in the API's words, next to the field."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.browser.app import sign_up
from tests.browser.conftest import WAIT_MS, Server, Visitors


def test_a_refused_sign_up_shows_the_apis_reason_next_to_the_field(visitors: Visitors) -> None:
    page = visitors.open().page
    page.goto("/")
    page.get_by_role("group", name="Sign in or sign up").get_by_role(
        "button", name="Sign up"
    ).click()
    page.get_by_label("Username").fill("cara")
    page.get_by_label("Password").fill("password")
    page.locator("form").get_by_role("button", name="Sign up").click()

    # Only the API judges a password (zxcvbn): this message comes from its 422.
    error = page.locator("[data-field-error=password]")
    expect(error).to_be_visible()
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    described_by = page.get_by_label("Password").get_attribute("aria-describedby") or ""
    assert error.get_attribute("id") in described_by.split()
    visitors.opened[0].shot("10-weak-password")


def test_the_workout_form_refuses_what_the_api_refuses_in_its_words(
    visitors: Visitors, server: Server
) -> None:
    visitor = visitors.open()
    page = visitor.page
    sign_up(page, "dora", "Dora")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Log workout").click()
    page.get_by_label("Duration (minutes)").fill("")
    page.get_by_label("Distance (km)").fill("60")
    page.get_by_label("Average heart rate (bpm)").fill("300")
    page.get_by_role("button", name="Log workout").click()

    expect(page.locator("[data-field-error=duration_s]")).to_be_visible()
    expect(page.get_by_label("Duration (minutes)")).to_be_focused()
    heart_rate = page.locator("[data-field-error=avg_heart_rate]").inner_text()
    expect(page.get_by_label("Average heart rate (bpm)")).to_have_attribute("aria-invalid", "true")
    visitor.shot("11-workout-form-errors")

    # Nothing was sent: Dora has no workout.
    token = server.token("dora")
    auth = {"Authorization": f"Bearer {token}"}
    workouts = httpx.get(f"{server.url}/v1/workouts", headers=auth, trust_env=False).json()
    assert workouts["items"] == []

    # The same input sent to the API is refused with the same words.
    page.get_by_label("Duration (minutes)").fill("60")
    page.get_by_role("button", name="Log workout").click()
    speed = page.locator("[data-field-error=distance_m]").inner_text()
    started_at = page.get_by_label("Started at").input_value() + ":00+00:00"
    for body, field, shown in (
        ({"distance_m": 60_000}, "distance_m", speed),
        ({"avg_heart_rate": 300}, "avg_heart_rate", heart_rate),
    ):
        refused = httpx.post(
            f"{server.url}/v1/workouts",
            json={"activity": "run", "started_at": started_at, "duration_s": 3600, **body},
            headers=auth,
            trust_env=False,
        )
        assert refused.status_code == 422
        (problem,) = refused.json()["detail"]
        assert problem["loc"][-1] == field
        assert shown.endswith(problem["msg"]), (shown, problem["msg"])


def test_an_indoor_row_is_sent_and_stored_as_indoors(visitors: Visitors, server: Server) -> None:
    visitor = visitors.open()
    page = visitor.page
    sign_up(page, "erin", "Erin")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Log workout").click()
    # A run's calories do not depend on it (domain/calories.py), so it is not asked.
    expect(page.get_by_label("Activity", exact=True)).to_have_value("run")
    expect(page.get_by_role("checkbox", name=re.compile("^Indoors"))).to_have_count(0)

    page.get_by_label("Activity", exact=True).select_option("row")
    indoors = page.get_by_label("Indoors (rowing ergometer)")
    # Ticked to begin with: the API takes a row as an ergometer row when nothing says.
    expect(indoors).to_be_checked()
    visitor.shot("12-indoor-row")
    ergometer = submit_row(page)
    assert ergometer.sent["indoor"] is True

    indoors.uncheck()
    on_water = submit_row(page)
    assert on_water.sent["indoor"] is False

    token = server.token("erin")
    # 5 km in 25 minutes: 3.33 m/s. On an ergometer that is 104 W by Concept2's formula,
    # row 02072 (7.0 MET); on water 7.5 mph, row 18060 (12.5 MET). Only `indoor` differs.
    assert stored(server, token, ergometer.id)["met"] == 7.0
    assert stored(server, token, on_water.id)["met"] == 12.5
    # And the record keeps the flag itself (the API's read does not return it).
    assert stored_indoor(server, ergometer.id) is True
    assert stored_indoor(server, on_water.id) is False


@dataclass(frozen=True)
class Submitted:
    id: str
    sent: dict[str, Any]


def submit_row(page: Page) -> Submitted:
    """Log 5 km of rowing in 25 minutes through the form; the body sent and the new id."""
    started = datetime.now(UTC) - timedelta(minutes=60)
    page.get_by_label("Started at").fill(started.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Duration (minutes)").fill("25")
    page.get_by_label("Distance (km)").fill("5")
    with page.expect_response(
        lambda r: r.url.endswith("/v1/workouts") and r.request.method == "POST"
    ) as answered:
        page.get_by_role("button", name="Log workout").click()
    assert answered.value.status == 202, answered.value.text()
    expect(page.get_by_label("Duration (minutes)")).to_have_value("")
    sent = answered.value.request.post_data_json
    assert isinstance(sent, dict), sent
    assert sent["activity"] == "row", sent
    return Submitted(str(answered.value.json()["id"]), sent)


def stored(server: Server, token: str, workout_id: str) -> dict[str, Any]:
    """GET /v1/workouts/{id} once the worker has processed it (202 while queued)."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        answer = httpx.get(
            f"{server.url}/v1/workouts/{workout_id}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
            trust_env=False,
        )
        if answer.status_code == 200:
            workout: dict[str, Any] = answer.json()
            assert workout["status"] == "processed", workout
            assert workout["activity"] == "row"
            return workout
        assert answer.status_code == 202, answer.text
        assert time.monotonic() < deadline, f"{workout_id} was not processed in time"
        time.sleep(0.1)


def stored_indoor(server: Server, workout_id: str) -> bool | None:
    """The `indoor` column of the workout's row in the embedded record (read-only)."""
    record = server.data_dir / "fitboard.db"
    with contextlib.closing(sqlite3.connect(f"file:{record}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT id, indoor FROM workouts").fetchall()
    flags = {uuid.UUID(str(row_id)): indoor for row_id, indoor in rows}
    flag = flags[uuid.UUID(workout_id)]
    return None if flag is None else bool(flag)
