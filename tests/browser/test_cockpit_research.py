"""Research in a real browser: a backtest started from the form shows its progress, then its
charts (docs/cockpit-contract.md, "Research")."""

from __future__ import annotations

import time

import pytest

from tests.browser.conftest import assert_chart_drawn, assert_heatmap_drawn, screenshot, wait_live

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium` fixture says so (a skip, or a failure on CI)
    expect = None

pytestmark = pytest.mark.browser

# What the form is given where it has such a field (the backtest API's names); fields it does
# not have keep the page's defaults.
FORM_VALUES = {
    "strategy": "ema_cross",
    "data": "futures/BTCUSDT-1h.csv.gz",
    "start": "2025-04-01",
    "end": "2025-06-01",
}

DONE_JS = """(el) => {
  if (el.tagName === 'PROGRESS') return el.max > 0 && el.value >= el.max;
  const now = el.getAttribute('aria-valuenow'), max = el.getAttribute('aria-valuemax');
  if (now !== null && max !== null && Number(now) >= Number(max)) return true;
  return /(^|\\D)100(\\.0+)?\\s*%|\\bdone\\b|\\bfinished\\b|\\bcomplete/i.test(el.textContent);
}"""


def _fill(form, name: str, value: str) -> None:
    fields = form.locator(f'[name="{name}"]')
    if fields.count() == 0:
        return
    first = fields.first
    tag = first.evaluate("e => e.tagName.toLowerCase()")
    kind = (first.get_attribute("type") or "").lower()
    if tag == "select":
        options = first.locator("option").evaluate_all("os => os.map(o => o.value)")
        match = [o for o in options if o == value] or [o for o in options if value in o]
        assert match, f"the {name} select has no option like {value!r}: {options}"
        first.select_option(match[0])
    elif kind in ("checkbox", "radio"):
        form.locator(f'[name="{name}"][value="{value}"]').check()
    elif kind == "datetime-local":
        first.fill(f"{value}T00:00")
    else:
        first.fill(value)


def test_a_backtest_started_from_the_form_shows_progress_then_its_charts(page, platform) -> None:
    page.goto("/research/")
    wait_live(page)
    form = page.locator("[data-testid=backtest-form]")
    expect(form).to_be_visible()
    before = set(
        page.locator("[data-testid=backtest-run]").evaluate_all("rs => rs.map(r => r.dataset.run)")
    )
    for name, value in FORM_VALUES.items():
        _fill(form, name, value)
    form.locator("[type=submit]").first.click()

    new_run = None
    deadline = time.monotonic() + 15
    while new_run is None and time.monotonic() < deadline:
        runs = page.locator("[data-testid=backtest-run]").evaluate_all(
            "rs => rs.map(r => r.dataset.run)"
        )
        new_run = next((r for r in runs if r not in before), None)
        if new_run is None:
            page.wait_for_timeout(200)
    assert new_run is not None, "no new [data-testid=backtest-run] row after submitting the form"
    row = page.locator(f'[data-testid=backtest-run][data-run="{new_run}"]')
    progress = row.locator("[data-testid=backtest-progress]")
    expect(progress).to_be_attached()

    deadline = time.monotonic() + 120
    status = "queued"
    while time.monotonic() < deadline:
        [(status, error)] = platform.sql(
            "select status, error from backtest_backtestrun where id = ?", int(new_run)
        )
        if status in ("done", "failed"):
            break
        time.sleep(0.5)
    assert status == "done", (status, error)
    # the row's progress reaches its end on the open page (live, no reload)
    deadline = time.monotonic() + 5
    while not progress.evaluate(DONE_JS):
        assert time.monotonic() < deadline, f"progress not at its end: {progress.inner_html()}"
        page.wait_for_timeout(200)
    screenshot(page, "research-after-backtest")
    page.console.assert_clean("the research page")

    answer = page.goto(f"/research/backtests/{new_run}/")
    assert answer is not None and answer.status == 200
    wait_live(page)
    for chart in ("equity-chart", "drawdown-chart", "price-chart"):
        assert_chart_drawn(page, f"[data-testid={chart}]")
    assert_heatmap_drawn(page, "[data-testid=monthly-heatmap]")
    page.console.assert_clean(f"backtest {new_run}")
    screenshot(page, "backtest-run")
