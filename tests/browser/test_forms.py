"""Forms check what the API checks, say it in the API's words, next to the field."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.browser.app import sign_up
from tests.browser.conftest import Server, Visitors


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
