"""Permissions in a real browser (issue 16): a staff user holding only a per-bot grant to pause
one bot sees that bot's Pause / Resume and no other action button, can pause and resume it, and
the server refuses his POSTs for the kill switch and for another bot (403, nothing changed)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    DESK_BOT,
    DESK_PASSWORD,
    DESK_USER,
    ConsoleWatch,
    login,
    screenshot,
    wait_live,
)

pytestmark = pytest.mark.browser

POST_JS = """async (url) => {
  const token = document.querySelector('meta[name=csrf-token]').content;
  const r = await fetch(url, {method: "POST", headers: {"X-CSRFToken": token}});
  return r.status;
}"""


def test_a_per_bot_grant_shows_and_allows_that_bot_only(browser, platform) -> None:
    context = browser.new_context(base_url=platform.url, viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        page.console = ConsoleWatch(page)
        login(page, DESK_USER, DESK_PASSWORD)
        page.goto("/")
        wait_live(page)
        expect(page.locator(f'[data-testid=pause-bot][data-bot="{DESK_BOT}"]')).to_have_count(1)
        assert page.locator("[data-testid=pause-bot]").count() == 1
        assert page.locator("[data-testid=kill-bot]").count() == 0
        assert page.locator("[data-testid=kill-all]").count() == 0
        screenshot(page, "overview-per-bot-grant")

        page.on("dialog", lambda dialog: dialog.accept())
        row = page.locator(f'[data-testid=bot-row][data-bot="{DESK_BOT}"]')
        page.locator(f'[data-testid=pause-bot][data-bot="{DESK_BOT}"]').click()
        expect(row.locator("[data-field=state]")).to_contain_text("paused", ignore_case=True)
        assert platform.sql("select state from bots_bot where name = ?", DESK_BOT) == [("paused",)]
        page.locator(f'[data-testid=resume-bot][data-bot="{DESK_BOT}"]').click()
        expect(row.locator("[data-field=state]")).to_contain_text("running", ignore_case=True)

        watched = "select name, state from bots_bot where name in (?, 'demo-scalp') order by name"
        states = platform.sql(watched, DESK_BOT)
        assert ("demo-scalp", "running") in states and (DESK_BOT, "running") in states
        for url in (
            "/api/cockpit/killswitch/",
            f"/api/cockpit/bots/{DESK_BOT}/kill/",
            "/api/cockpit/bots/demo-scalp/pause/",
        ):
            assert page.evaluate(POST_JS, url) == 403, url
        assert platform.sql(watched, DESK_BOT) == states  # no kill switch, no pause
        recorded = platform.sql(
            "select change_message from django_admin_log l join auth_user u on u.id = l.user_id"
            " where u.username = ? order by l.id",
            DESK_USER,
        )
        assert [m for (m,) in recorded] == ["paused (cockpit)", "resumed (cockpit)"]
        # the refused POSTs log as 403s in the console: only those, and no CSP violation
        errors = [e for e in page.console.errors if "403 (Forbidden)" not in e]
        assert errors == [], errors
    finally:
        context.close()
