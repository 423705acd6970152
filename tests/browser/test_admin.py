"""The admin's review of flagged workouts: an admin sees a workout faster than the world
record, approves it with a reason, and its athlete sees it counted with that decision."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.app import sign_up
from tests.browser.conftest import AXE, WAIT_MS, Server, Visitors
from tests.browser.test_pages import serious_violations


def submit_stored(server: Server, token: str, body: dict[str, object]) -> str:
    """POST a workout through the API and wait (bounded) until the worker stored it."""
    headers = {"Authorization": f"Bearer {token}"}
    answer = httpx.post(
        f"{server.url}/v1/workouts", json=body, headers=headers, timeout=10, trust_env=False
    )
    assert answer.status_code == 202, answer.text
    workout_id: str = answer.json()["id"]
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        stored = httpx.get(
            f"{server.url}/v1/workouts/{workout_id}", headers=headers, timeout=10, trust_env=False
        )
        if stored.status_code == 200:
            return workout_id
        assert stored.status_code == 202, stored.text
        assert time.monotonic() < deadline, "the workout was not stored in time"
        time.sleep(0.2)


def test_an_admin_approves_a_flagged_workout_and_its_athlete_sees_the_decision(
    visitors: Visitors, server: Server
) -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run scripts/install-browser-test-tools.sh")
    athlete = visitors.open()
    sign_up(athlete.page, "fay", "Fay")
    # 5000 m in 10 minutes: faster than the world record, so stored as flagged.
    started = datetime.now(UTC) - timedelta(hours=1)
    workout_id = submit_stored(
        server,
        server.token("fay"),
        {
            "activity": "run",
            "started_at": started.isoformat(),
            "duration_s": 600,
            "distance_m": 5000,
        },
    )
    athlete.page.get_by_role("navigation", name="Main").locator("a[href='/workouts']").click()
    flagged = athlete.page.locator(".workout[data-status=flagged]")
    expect(flagged).to_have_count(1)
    expect(flagged.locator(".decision")).to_have_count(0)

    # axe is injected as an inline script, which the app's Content-Security-Policy forbids.
    admin = visitors.open(bypass_csp=True)
    sign_up(admin.page, "gus", "Gus")
    server.fitboard("users", "promote", "gus")
    admin.page.reload()
    admin.page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    review = admin.page.get_by_role("list", name="Flagged workouts")
    item = review.locator(f"li[data-workout-id='{workout_id}']")
    expect(item).to_be_visible()
    expect(item).to_contain_text("Run")
    expect(item).to_contain_text("Why:")
    assert serious_violations(admin.page) == []

    item.get_by_label("Reason (optional, shown to the athlete)").fill("Checked the GPS track")
    with admin.page.expect_response(
        lambda r: r.url.endswith(f"/v1/admin/workouts/{workout_id}/approve")
    ) as answered:
        item.get_by_role("button", name="Approve").click()
    assert answered.value.status == 202, answered.value.text()

    # The athlete's page follows live (workout:processed): counted, with the decision.
    counted = athlete.page.locator(".workout[data-status=processed]")
    expect(counted).to_have_count(1)
    decision = counted.locator(".decision[data-decision=approve]")
    expect(decision).to_contain_text("Approved by an admin")
    expect(decision).to_contain_text("Checked the GPS track")
    expect(athlete.page.locator(".workout[data-status=flagged]")).to_have_count(0)

    # Applied: the admin's refreshed list no longer has it.
    admin.page.get_by_role("button", name="Refresh").click()
    expect(item).to_have_count(0)
    expect(admin.page.get_by_text("No flagged workouts")).to_be_visible()
    assert serious_violations(admin.page) == []
    assert athlete.console_errors == []
    assert admin.console_errors == []
