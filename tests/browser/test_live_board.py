"""Two athletes in two browsers watch each other climb the board, live, without reloads:
on the embedded server, and on a production deployment where the API and the worker are
separate processes and a live update crosses from one to the other through Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.app import create_group, join_group, log_workout, open_board, row, sign_up
from tests.browser.conftest import Server, Visitors


def test_two_athletes_see_each_other_climb_live(visitors: Visitors) -> None:
    climb_live(visitors, shots="")


@pytest.mark.production
def test_two_athletes_see_each_other_climb_live_in_production(
    production_visitors: Visitors,
) -> None:
    climb_live(production_visitors, shots="production-")


def climb_live(visitors: Visitors, *, shots: str) -> None:
    """Ada and Bo sign up; Bo's open board shows Ada's first workout, Ada gets her badge
    toast; Bo overtakes her and her open board says so. Screenshots are named `shots` + a
    step's name."""
    ada, bo = visitors.open(), visitors.open()
    ada_id = sign_up(ada.page, "ada", "Ada")
    bo_id = sign_up(bo.page, "bobby", "Bo")
    # Bo keeps the leaderboard open; a marker on the window shows it is never reloaded.
    open_board(bo.page)
    bo.page.evaluate("window.stillTheSamePage = true")
    expect(bo.page.locator(".empty")).to_contain_text("Nobody is on this board yet")

    log_workout(ada.page, minutes=45, km=8)

    ada_on_bos_board = row(bo.page, ada_id)
    expect(ada_on_bos_board).to_have_attribute("data-rank", "1")
    expect(ada_on_bos_board).to_contain_text("Ada")
    assert bo.page.evaluate("window.stillTheSamePage") is True
    bo.shot(f"{shots}01-bo-sees-ada-take-the-lead")

    # Ada's first workout earns a badge, announced as it is awarded.
    expect(ada.page.locator("[data-toast=badge]").first).to_contain_text("Badge earned")
    ada.shot(f"{shots}02-ada-badge-toast")

    open_board(ada.page)
    expect(row(ada.page, ada_id)).to_have_class("me ")
    ada.page.evaluate("window.stillTheSamePage = true")

    log_workout(bo.page, minutes=90, km=16)

    # Told on the board she watches (her page opened at the current week's, which may tell
    # her too).
    overtaken = ada.page.locator("[data-toast=overtaken]", has_text="points · all · global")
    expect(overtaken).to_contain_text("Bo overtook you")
    expect(row(ada.page, bo_id)).to_have_attribute("data-rank", "1")
    expect(row(ada.page, ada_id)).to_have_attribute("data-rank", "2")
    expect(row(ada.page, ada_id)).to_have_attribute("data-move", "down")
    expect(row(ada.page, bo_id)).to_have_attribute("data-move", "new")
    expect(ada.page.locator("[data-my-rank]")).to_have_attribute("data-my-rank", "2")
    assert ada.page.evaluate("window.stillTheSamePage") is True
    ada.shot(f"{shots}03-ada-overtaken-by-bo")

    # Bo's own board shows him first, highlighted, and Ada behind him.
    open_board(bo.page)
    expect(row(bo.page, bo_id)).to_have_attribute("data-rank", "1")
    expect(row(bo.page, bo_id)).to_contain_text("you")
    expect(row(bo.page, ada_id)).to_have_attribute("data-rank", "2")
    bo.shot(f"{shots}04-bo-leads")

    for visitor in (ada, bo):
        assert visitor.console_errors == []


def test_the_board_recovers_by_itself_after_the_connection_drops(
    visitors: Visitors, server: Server
) -> None:
    ada, bo = visitors.open(), visitors.open()
    ada_id = sign_up(ada.page, "ada", "Ada")
    sign_up(bo.page, "bobby", "Bo")
    open_board(bo.page)
    bo.page.evaluate("window.stillTheSamePage = true")

    # The server goes away and comes back (same data directory, same port): every live
    # connection drops, and the server has forgotten every subscription.
    server.stop()
    expect(bo.page.locator("[data-live-status=offline]")).to_be_visible()
    bo.shot("05-bo-reconnecting")
    server.start()
    expect(bo.page.locator("[data-live-status=live]")).to_be_visible()
    expect(ada.page.locator("[data-live-status=live]")).to_be_visible()

    log_workout(ada.page, minutes=30, km=5)

    expect(row(bo.page, ada_id)).to_have_attribute("data-rank", "1")
    assert bo.page.evaluate("window.stillTheSamePage") is True
    bo.shot("06-bo-recovered")


def test_a_challenge_board_follows_live(visitors: Visitors) -> None:
    challenge_live(visitors, shots="")


@pytest.mark.production
def test_a_challenge_board_follows_live_in_production(production_visitors: Visitors) -> None:
    challenge_live(production_visitors, shots="production-")


def challenge_live(visitors: Visitors, *, shots: str) -> None:
    """Bo watches his group's challenge; Ada's workout shows on it from the challenge's
    live room, with no further read of the board over HTTP. (In production the worker that
    processes it is a process of its own: the move crosses to the API through Redis.)"""
    ada, bo = visitors.open(), visitors.open()
    ada_id = sign_up(ada.page, "ada", "Ada")
    sign_up(bo.page, "bobby", "Bo")
    invite = create_group(ada.page, "Harbour")
    join_group(bo.page, invite)
    expect(bo.page.locator("li.group", has_text="Harbour")).to_contain_text("2 members")
    group_id = invite.split(":")[0]
    now = datetime.now(UTC)
    # Ada owns the group, so she may create its challenges: with her session's token.
    challenge = {
        "name": "Harbour November",
        "metric": "distance",
        "starts_at": (now - timedelta(days=1)).isoformat(),
        "ends_at": (now + timedelta(days=1)).isoformat(),
        "scope": f"group:{group_id}",
    }
    status, created = ada.page.evaluate(
        """async (body) => {
            const session = JSON.parse(localStorage.getItem("fitboard.session"));
            const answer = await fetch("/v1/challenges", {
                method: "POST",
                headers: {
                    Authorization: `Bearer ${session.token}`,
                    "Content-Type": "application/json",
                },
                body: JSON.stringify(body),
            });
            return [answer.status, await answer.json()];
        }""",
        challenge,
    )
    assert status == 201, created
    challenge_id = created["id"]

    board_reads: list[str] = []
    bo.page.on(
        "request",
        lambda r: (
            board_reads.append(r.url)
            if f"/v1/challenges/{challenge_id}/leaderboard" in r.url
            else None
        ),
    )
    bo.page.goto(f"/?challenge={challenge_id}")
    expect(bo.page.get_by_role("heading", name="Harbour November")).to_be_visible()
    expect(bo.page.get_by_text("No scores yet in this challenge.")).to_be_visible()
    bo.page.evaluate("window.stillTheSamePage = true")
    reads_before = len(board_reads)

    log_workout(ada.page, minutes=45, km=8)

    expect(row(bo.page, ada_id)).to_have_attribute("data-rank", "1")
    expect(row(bo.page, ada_id)).to_contain_text("Ada")
    assert bo.page.evaluate("window.stillTheSamePage") is True
    assert len(board_reads) == reads_before, board_reads
    bo.shot(f"{shots}05-bo-sees-ada-on-the-challenge-live")
    for visitor in (ada, bo):
        assert visitor.console_errors == []
