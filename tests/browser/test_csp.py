"""The Content-Security-Policy in a real browser (issue 16): the admin, the API docs (Swagger
UI) and the backtest report answer with the policy and run without a single violation or
console error (the cockpit's pages are checked the same way in test_cockpit_pages)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def _visit(page, path: str) -> str:
    answer = page.goto(path)
    assert answer is not None and answer.status == 200, f"{path}: {answer and answer.status}"
    policy = answer.headers.get("content-security-policy", "")
    assert "default-src 'self'" in policy and "'unsafe-inline'" not in policy, (path, policy)
    page.wait_for_load_state("load")
    return policy


def test_admin_pages_run_under_the_policy_without_violation(page, platform) -> None:
    bot_id = platform.sql("SELECT id FROM bots_bot WHERE name = 'demo-swing'")[0][0]
    for path in (
        "/admin/",
        "/admin/bots/bot/",
        f"/admin/bots/bot/{bot_id}/change/",  # inlines, the symbols selector, the risk rows
        "/admin/bots/botgrant/add/",  # the user autocomplete (select2)
        "/admin/backtest/backtestrun/",
        "/admin/ai/modelartifact/",
        "/admin/django_celery_beat/periodictask/",
    ):
        _visit(page, path)
        page.wait_for_timeout(300)
    screenshot(page, "admin-csp")
    page.console.assert_clean("the admin")


def test_api_docs_render_swagger_ui_under_the_policy(page) -> None:
    policy = _visit(page, "/api/docs/")
    assert "'nonce-" in policy  # the page's own setup script and style carry it
    page.locator(".swagger-ui .info .title").wait_for(timeout=15_000)
    page.locator(".opblock").first.wait_for(timeout=15_000)  # the schema was fetched and drawn
    screenshot(page, "api-docs")
    page.console.assert_clean("/api/docs/")


def test_backtest_report_renders_under_the_policy(page, platform) -> None:
    run = platform.setup["backtests"][0]
    _visit(page, f"/backtests/{run}/report/")
    assert page.locator("h1").inner_text() == "Backtest report"
    # its one inline style applies (allowed by its hash): the body's margin is 2rem
    assert page.evaluate("getComputedStyle(document.body).marginTop") == "32px"
    page.console.assert_clean("the backtest report")
