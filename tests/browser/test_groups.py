"""An athlete's groups come from the server (`GET /v1/groups`), not from the browser that
created or joined them."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.app import create_group, join_group, sign_in, sign_up
from tests.browser.conftest import Visitors


def show_my_groups(page: Page) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Leaderboard").click()
    page.get_by_label("Scope").select_option("group")


def group_options(page: Page) -> list[str]:
    show_my_groups(page)
    choose = page.get_by_label("Group", exact=True)
    expect(choose.locator("option")).not_to_have_count(0)
    return [o.inner_text() for o in choose.locator("option").all()]


def test_a_group_joined_in_one_browser_is_in_the_selector_of_another(
    visitors: Visitors,
) -> None:
    owner = visitors.open().page
    sign_up(owner, "tessa", "Tessa")
    invite = create_group(owner, "Harbour Runners")

    joiner = visitors.open().page
    sign_up(joiner, "ulrik", "Ulrik")
    join_group(joiner, invite)
    expect(joiner.locator("li.group", has_text="Harbour Runners")).to_contain_text("2 members")

    # The same athlete in a fresh context: nothing in its storage but what signing in puts.
    elsewhere = visitors.open().page
    sign_in(elsewhere, "ulrik")
    assert group_options(elsewhere) == ["Choose a group", "Harbour Runners"]
    elsewhere.reload()
    assert group_options(elsewhere) == ["Choose a group", "Harbour Runners"]
    elsewhere.get_by_label("Group", exact=True).select_option(label="Harbour Runners")
    expect(elsewhere.get_by_role("heading", name="Points")).to_be_visible()
    visitors.opened[2].shot("40-groups-from-the-server")

    # Leaving, anywhere, is seen everywhere on the next read.
    joiner.get_by_role("navigation", name="Main").get_by_role("link", name="Groups").click()
    joiner.locator("li.group", has_text="Harbour Runners").get_by_role(
        "button", name="Leave"
    ).click()
    expect(joiner.get_by_text("No group yet.")).to_be_visible()
    elsewhere.reload()
    show_my_groups(elsewhere)
    expect(elsewhere.get_by_text("You are in no group yet.")).to_be_visible()
