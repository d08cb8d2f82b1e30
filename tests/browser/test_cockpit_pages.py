"""Every cockpit page in a real browser: it answers, goes live, draws the charts the contract
names, logs no JavaScript error, and leaves a screenshot in var/screenshots/."""

from __future__ import annotations

import pytest

from tests.browser.conftest import assert_chart_drawn, assert_heatmap_drawn, screenshot, wait_live

pytestmark = pytest.mark.browser

CHART = ("canvas",)
# name -> (path, [(selector, "chart" | "heatmap" | "any-canvas")]); {a}, {b}: the two finished
# backtests of the set-up, {opt}: its optimisation run.
PAGES = {
    "overview": ("/", [("[data-testid=equity-chart]", "chart")]),
    "bot-swing": (
        "/bots/demo-swing/",
        [
            ('[data-testid=price-chart][data-symbol="BTCUSDT"]', "chart"),
            ("[data-testid=equity-chart]", "chart"),
            ("[data-testid=drawdown-chart]", "chart"),
        ],
    ),
    "bot-ai": (
        "/bots/demo-ai/",
        [
            ('[data-testid=price-chart][data-symbol="BTCUSDT"]', "chart"),
            ("[data-testid=equity-chart]", "chart"),
        ],
    ),
    "bot-signal": ("/bots/demo-signal/", [("[data-testid=price-chart]", "chart")]),
    "portfolio": (
        "/portfolio/",
        [
            ("[data-testid=exposure]", "present"),
            ("[data-testid=correlation-heatmap]", "heatmap"),
            ("[data-testid=margin]", "present"),
        ],
    ),
    "research": ("/research/", [("[data-testid=backtest-form]", "present")]),
    "backtest": (
        "/research/backtests/{a}/",
        [
            ("[data-testid=equity-chart]", "chart"),
            ("[data-testid=drawdown-chart]", "chart"),
            ("[data-testid=monthly-heatmap]", "heatmap"),
            ("[data-testid=price-chart]", "chart"),
        ],
    ),
    "compare": ("/research/backtests/compare/?a={a}&b={b}", [("body", "any-canvas")]),
    "optimization": (
        "/research/optimizations/{opt}/",
        [("[data-testid=window-chart]", "chart-or-svg")],
    ),
}


@pytest.mark.parametrize("name", list(PAGES))
def test_page_renders_live_with_its_charts_and_no_javascript_error(page, platform, name) -> None:
    path, checks = PAGES[name]
    a, b = platform.setup["backtests"]
    path = path.format(a=a, b=b, opt=platform.setup["optimization"])
    answer = page.goto(path)
    assert answer is not None, path
    assert answer.status == 200, f"{path}: HTTP {answer.status}"
    assert page.url.endswith(path), f"{path}: went to {page.url}"
    try:
        wait_live(page)
    except AssertionError as exc:
        raise AssertionError(f"{path} never went live; JS errors: {page.console.errors}") from exc
    for selector, kind in checks:
        if kind == "chart":
            assert_chart_drawn(page, selector)
        elif kind == "chart-or-svg":
            assert_chart_drawn(page, selector, kinds=("canvas", "svg"))
        elif kind == "any-canvas":
            assert_chart_drawn(page, selector)
        elif kind == "heatmap":
            assert_heatmap_drawn(page, selector)
        else:
            assert page.locator(selector).count() > 0, f"{path}: no {selector}"
    page.wait_for_timeout(1_000)  # a second of live events: they must not raise either
    screenshot(page, name)
    page.console.assert_clean(path)


def test_admin_pages_have_no_javascript_error(page) -> None:
    for path in ("/admin/", "/admin/trading/position/", "/admin/trading/trade/"):
        answer = page.goto(path)
        assert answer is not None and answer.status == 200, path
    screenshot(page, "admin-trades")
    page.console.assert_clean("the admin")


def test_bot_trades_export_as_csv(page, platform) -> None:
    answer = page.request.get("/bots/demo-swing/trades.csv")
    assert answer.status == 200, answer.status
    assert answer.headers["content-type"].startswith("text/csv"), answer.headers
    header = answer.text().splitlines()[0].lower()
    for column in ("symbol", "side", "entry", "exit"):
        assert column in header, header
