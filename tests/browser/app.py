"""What a person does in the app, as steps the tests share."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import PASSWORD, WAIT_MS


def sign_up(page: Page, username: str, display_name: str) -> str:
    """Sign up through the form; returns the new athlete's user id."""
    page.goto("/")
    page.get_by_role("group", name="Sign in or sign up").get_by_role(
        "button", name="Sign up"
    ).click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Display name (shown on boards)").fill(display_name)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("form").get_by_role("button", name="Sign up").click()
    expect(page.locator("[data-live-status=live]")).to_be_visible(timeout=WAIT_MS)
    user_id: str = page.evaluate(
        """async () => {
            const session = JSON.parse(localStorage.getItem("fitboard.session"));
            const me = await fetch("/v1/me", {headers: {Authorization: `Bearer ${session.token}`}});
            return (await me.json()).id;
        }"""
    )
    return user_id


def log_workout(page: Page, *, minutes: int, km: float, activity: str = "run") -> datetime:
    """Log a workout through the form that ended ten minutes ago; returns when it started."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Log workout").click()
    page.get_by_label("Activity", exact=True).select_option(activity)
    # Ended ten minutes ago, in the browser's zone (UTC: conftest.Visitors.open).
    started = datetime.now(UTC) - timedelta(minutes=minutes + 10)
    page.get_by_label("Started at").fill(started.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Duration (minutes)").fill(str(minutes))
    page.get_by_label("Distance (km)").fill(str(km))
    with page.expect_response(
        lambda r: r.url.endswith("/v1/workouts") and r.request.method == "POST"
    ) as answered:
        page.get_by_role("button", name="Log workout").click()
    assert answered.value.status == 202, answered.value.text()
    # The toast says so for a few seconds; on a loaded machine the check can come after it
    # went, so the form, emptied on success, is what must show it.
    expect(page.get_by_label("Duration (minutes)")).to_have_value("")
    return started


def open_board(page: Page) -> None:
    """The leaderboard, on the all-time points board: its period never ends in the middle
    of a test. The page opens at the current week's, and a workout the tests log up to
    about 01:41 UTC on a Monday (the longest starts 100 minutes before it is logged) may
    have started in the week before, on a board the page does not show."""
    # Until the page has read the board (when it opens, if this tab chose all time before;
    # else once it is chosen): a test that stops the server next must not fail that read.
    with page.expect_response(lambda r: urlparse(r.url).path == "/v1/leaderboards/points/all"):
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Leaderboard").click()
        page.get_by_label("Period").select_option("all")
    expect(page.get_by_role("heading", name=re.compile("Points · All time"))).to_be_visible()


def row(page: Page, user_id: str) -> Locator:
    return page.locator(f"table.board tr[data-user-id='{user_id}']")


def sign_in(page: Page, username: str) -> None:
    """Sign in through the form, as an athlete who signed up before."""
    page.goto("/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("form").get_by_role("button", name="Sign in").click()
    expect(page.locator("[data-live-status=live]")).to_be_visible(timeout=WAIT_MS)


def create_group(page: Page, name: str) -> str:
    """Create a group on the groups page; returns its invite."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Groups").click()
    page.get_by_label("Group name").fill(name)
    page.get_by_role("form", name="Create a group").get_by_role("button", name="Create").click()
    invite = page.locator("li.group", has_text=name).locator("code[data-invite]")
    expect(invite).to_be_visible()
    return invite.inner_text()


def join_group(page: Page, invite: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Groups").click()
    page.get_by_label("Invite").fill(invite)
    page.get_by_role("form", name="Join a group").get_by_role("button", name="Join").click()
