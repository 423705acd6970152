"""Every page: usable at phone width, free of serious accessibility violations (axe-core),
and working with nothing but the server (the docs pages too)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.activity_files import Track, gpx, hours_ago
from tests.browser.app import log_workout, open_board, row, sign_up
from tests.browser.conftest import AXE, PHONE, Server, Visitors

PAGES = ["/", "/log", "/workouts", "/badges", "/report", "/groups", "/challenges", "/profile"]
# What each page shows once its data has arrived, for an athlete with one workout.
LOADED = {
    "/workouts": ".workout",
    "/badges": ".badge.earned",
    "/report": ".stat",
    "/groups": ".card h2",
    "/challenges": ".empty",
    "/profile": "form[aria-label=Profile]",
}


def visit(page: Page, path: str, month: str) -> None:
    """Go to `path` through the main navigation and wait until its data has arrived. The
    report shown is `month`'s, that of the athlete's workout: the page opens at the current
    month, and a workout logged here in the first hour of the 1st (UTC, the browser's zone
    here) started in the month before (up to an hour before it is logged)."""
    page.get_by_role("navigation", name="Main").locator(f"a[href='{path}']").click()
    if path == "/report":
        page.get_by_label("Month", exact=True).fill(month)
    expect(page.locator(LOADED.get(path, "main h1")).first).to_be_visible()


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations of impact serious or critical on the page as it is now."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    violations: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
            .map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.map(n => n.target.join(" "))}))"""
    )
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def test_no_page_has_a_serious_accessibility_violation(visitors: Visitors, server: Server) -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run scripts/install-browser-test-tools.sh")
    # axe is injected as an inline script, which the app's Content-Security-Policy forbids.
    visitor = visitors.open(bypass_csp=True)
    page = visitor.page
    page.goto("/")
    found = {"sign-in": serious_violations(page)}

    sign_up(page, "erin", "Erin")
    month = log_workout(page, minutes=40, km=7).strftime("%Y-%m")
    server.fitboard("users", "promote", "erin")
    page.reload()
    expect(page.get_by_role("link", name="Admin")).to_be_visible()
    for path in [*PAGES, "/admin"]:
        visit(page, path, month)
        found[path] = serious_violations(page)

    # With errors showing (and a row's Indoors box), and at phone width.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Log workout").click()
    page.get_by_label("Activity", exact=True).select_option("row")
    expect(page.get_by_label("Indoors (rowing ergometer)")).to_be_checked()
    page.get_by_label("Duration (minutes)").fill("")
    page.get_by_role("button", name="Log workout").click()
    expect(page.locator("[data-field-error=duration_s]")).to_be_visible()
    found["log with errors"] = serious_violations(page)
    page.set_viewport_size(PHONE)
    open_board(page)
    found["phone board"] = serious_violations(page)

    assert {where: v for where, v in found.items() if v} == {}
    assert visitor.console_errors == []


def fits_the_width(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_the_app_fits_a_phone(visitors: Visitors) -> None:
    visitor = visitors.open(PHONE)
    page = visitor.page
    page.goto("/")
    assert fits_the_width(page)
    visitor.shot("20-phone-sign-in")

    user_id = sign_up(page, "fern", "Fern")
    month = log_workout(page, minutes=50, km=9).strftime("%Y-%m")
    assert fits_the_width(page)
    visitor.shot("21-phone-log")

    open_board(page)
    mine = row(page, user_id)
    expect(mine).to_have_attribute("data-rank", "1")
    box = mine.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= PHONE["width"]
    assert fits_the_width(page)
    visitor.shot("22-phone-board")

    for path in LOADED:
        visit(page, path, month)
        assert fits_the_width(page), path
    visitor.shot("23-phone-profile")

    # Keyboard only: from the top, Tab reaches the skip link, which moves focus to the page.
    page.goto("/")
    expect(page.locator("main h1")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Metric")).to_be_focused()
    assert visitor.console_errors == []


def test_an_activity_file_uploads_with_progress_and_is_counted(
    visitors: Visitors, tmp_path: Path
) -> None:
    visitor = visitors.open()
    page = visitor.page
    sign_up(page, "gina", "Gina")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Log workout").click()
    track = tmp_path / "morning-run.gpx"
    track.write_bytes(gpx(Track(start=hours_ago(3), seconds=1800, speed_m_s=3.0)))
    # Records whether the progress bar was ever shown while the upload ran.
    page.evaluate(
        """() => new MutationObserver(() => {
            if (document.querySelector("[role=progressbar][aria-label='Upload progress']"))
                window.sawUploadProgress = true;
        }).observe(document.body, {subtree: true, childList: true})"""
    )
    page.get_by_label("Activity file (.gpx, .tcx, .fit or .zip)").set_input_files(track)
    page.get_by_role("button", name="Upload").click()

    expect(page.locator(".import-results")).to_contain_text("morning-run.gpx: imported")
    assert page.evaluate("window.sawUploadProgress") is True
    page.get_by_role("navigation", name="Main").get_by_role("link", name="My training").click()
    workout = page.locator(".workout").first
    expect(workout).to_have_attribute("data-status", "processed")
    expect(workout).to_contain_text("5.40 km")
    expect(workout).to_contain_text("from GPX")
    visitor.shot("30-imported-workout")

    # The same file again is recognised as the same activity.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Log workout").click()
    page.get_by_label("Activity file (.gpx, .tcx, .fit or .zip)").set_input_files(track)
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("status").filter(has_text="See your workouts")).to_be_visible()
    assert visitor.console_errors == []


def test_the_docs_pages_work_without_internet(visitors: Visitors) -> None:
    visitor = visitors.open()
    page = visitor.page
    page.goto("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("fitboard")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    visitor.shot("40-swagger-ui")
    page.goto("/redoc")
    expect(page.locator("h1").first).to_contain_text("fitboard")
    expect(page.get_by_role("menuitem", name="workouts").first).to_be_visible()
    visitor.shot("41-redoc")
    # The visitors fixture fails the test if either page asked for anything off the server.
