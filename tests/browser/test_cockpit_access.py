"""Who sees the cockpit: staff only. An anonymous visitor and a logged-in non-staff user are
sent to the admin login and see no figure, no snapshot and no live event."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import VIEWER_PASSWORD, VIEWER_USER, login, screenshot

pytestmark = pytest.mark.browser

COCKPIT = (
    "/",
    "/bots/demo-signal/",
    "/bots/demo-signal/trades.csv",
    "/portfolio/",
    "/research/",
    "/research/backtests/{a}/",
    "/research/backtests/compare/?a={a}&b={b}",
    "/research/optimizations/{opt}/",
)
APIS = ("/api/cockpit/snapshot/", "/api/cockpit/bots/demo-signal/")
BOT_NAMES = ("demo-signal", "demo-swing", "demo-scalp", "demo-ai")
MARKERS = ('data-testid="bot-row"', "equity-total", "cockpit-snapshot", "position-row")

WS_JS = """(url) => new Promise((resolve) => {
  const got = [];
  let ws;
  try { ws = new WebSocket(url); } catch (e) { resolve({got, error: String(e)}); return; }
  ws.onmessage = (m) => got.push(m.data);
  const done = (code) => resolve({got, code});
  ws.onclose = (e) => done(e.code);
  setTimeout(() => { try { ws.close(); } catch (e) {} done('timeout'); }, 3000);
})"""


def _assert_sees_nothing(context, platform, who: str) -> None:
    a, b = platform.setup["backtests"]
    page = context.new_page()
    for path in COCKPIT:
        path = path.format(a=a, b=b, opt=platform.setup["optimization"])
        page.goto(path)
        assert re.search(r"/admin/login/", page.url), f"{who} at {path}: not sent to login"
        text, html = page.inner_text("body"), page.content()
        for name in BOT_NAMES:  # (the login form's hidden "next" may hold a bot's URL)
            assert name not in text, f"{who} at {path}: the page shows {name!r}"
        for marker in MARKERS:
            assert marker not in html, f"{who} at {path}: the page holds {marker!r}"
    screenshot(page, f"denied-{who}")
    for path in APIS:
        answer = context.request.get(path, max_redirects=0)
        assert answer.status in (302, 401, 403), f"{who} {path}: HTTP {answer.status}"
        assert "demo-signal" not in answer.text(), f"{who} {path}: {answer.text()[:200]}"
    socket = page.evaluate(WS_JS, platform.ws_url)
    assert socket["got"] == [], f"{who}: the websocket sent {socket['got'][:3]}"
    page.close()


def test_an_anonymous_visitor_sees_nothing(browser, platform) -> None:
    context = browser.new_context(base_url=platform.url)
    try:
        _assert_sees_nothing(context, platform, "anonymous")
    finally:
        context.close()


def test_a_non_staff_user_sees_nothing(browser, platform) -> None:
    context = browser.new_context(base_url=platform.url)
    try:
        page = context.new_page()
        # the admin's login form refuses a non-staff account ...
        login(page, VIEWER_USER, VIEWER_PASSWORD)
        assert "/admin/login/" in page.url
        assert page.locator(".errornote").count() == 1
        # ... and with a session of his own (a login elsewhere) the cockpit still shows nothing
        context.add_cookies(
            [
                {
                    "name": "sessionid",
                    "value": platform.setup["viewer_session"],
                    "url": platform.url,
                }
            ]
        )
        answer = context.request.get("/admin/", max_redirects=0)
        assert answer.status == 302  # logged in, but not staff
        _assert_sees_nothing(context, platform, "non-staff")
    finally:
        context.close()
