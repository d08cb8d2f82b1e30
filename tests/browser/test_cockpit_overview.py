"""The overview in a real browser: log in, charts drawn, a worker's fill shown live, the kill
switch and the pause/resume buttons (docs/cockpit-contract.md, "Overview")."""

from __future__ import annotations

import re
import time
from decimal import Decimal

import pytest

from tests.browser.conftest import (
    KILL_BOT,
    STAFF_PASSWORD,
    STAFF_USER,
    assert_chart_drawn,
    login,
    number,
    screenshot,
    wait_live,
)

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium` fixture says so (a skip, or a failure on CI)
    expect = None

pytestmark = pytest.mark.browser

DEMO_BOTS = {"demo-scalp", "demo-swing", "demo-ai", "demo-signal"}

# One evaluation, so the figures are read at one instant (an event between two reads would
# make a consistent page look inconsistent).
FIGURES_JS = """() => {
  const text = (el) => el ? el.textContent.trim() : null;
  return {
    total: text(document.querySelector('[data-testid=equity-total]')),
    equities: Array.from(document.querySelectorAll('[data-testid=bot-row]')).map(
        r => text(r.querySelector('[data-field=equity]'))),
    count: text(document.querySelector('[data-testid=open-positions-count]')),
    rows: document.querySelectorAll('[data-testid=position-row]').length,
  };
}"""


def _bot_row(page, bot: str):
    return page.locator(f'[data-testid=bot-row][data-bot="{bot}"]')


def _position_rows(page, bot: str, symbol: str | None = None):
    where = f'[data-testid=position-row][data-bot="{bot}"]'
    if symbol:
        where += f'[data-symbol="{symbol}"]'
    return page.locator(where)


def _figures_consistent(page) -> None:
    """The total equity is the sum of the bots' equities (each shown to cents) and the open
    positions count is the number of position rows."""
    figures = page.evaluate(FIGURES_JS)
    assert figures["total"] is not None, "no [data-testid=equity-total]"
    assert figures["count"] is not None, "no [data-testid=open-positions-count]"
    assert number(figures["count"]) == figures["rows"], figures
    equities = [number(e) for e in figures["equities"] if e is not None]
    assert len(equities) == len(figures["equities"]), f"a bot row without equity: {figures}"
    slack = Decimal("0.01") * len(equities)
    assert abs(number(figures["total"]) - sum(equities)) <= slack, figures


def _consistent_soon(page, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            _figures_consistent(page)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)


def test_log_in_through_the_admin_form_lands_on_the_overview(browser, platform) -> None:
    context = browser.new_context(base_url=platform.url, viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        page.goto("/")
        assert re.search(r"/admin/login/\?next=/$", page.url), page.url
        screenshot(page, "login")
        login(page, STAFF_USER, STAFF_PASSWORD, next_path="/")
        assert page.url == f"{platform.url}/", page.url
        expect(page.locator("[data-testid=bot-row]").first).to_be_visible(timeout=10_000)
        wait_live(page)
    finally:
        context.close()


def test_overview_renders_with_non_empty_charts(page, platform) -> None:
    answer = page.goto("/")
    assert answer is not None and answer.status == 200
    wait_live(page)
    assert_chart_drawn(page, "[data-testid=equity-chart]")
    bots = set(
        page.locator("[data-testid=bot-row]").evaluate_all("rs => rs.map(r => r.dataset.bot)")
    )
    assert bots == DEMO_BOTS | {KILL_BOT}, bots
    states = dict(platform.sql("select name, state from bots_bot where rehearsal = 0"))
    for bot in sorted(bots):
        row = _bot_row(page, bot)
        for name in ("state", "cause", "reason", "equity", "pnl-today", "pnl-total", "breaker"):
            expect(row.locator(f"[data-field={name}]")).to_have_count(1)
        for name in ("vix", "ai"):
            expect(row.locator(f"[data-field={name}]")).to_have_count(1)
        for button in ("pause-bot", "resume-bot", "kill-bot"):
            expect(page.locator(f'[data-testid={button}][data-bot="{bot}"]')).to_have_count(1)
        if states[bot] in ("running", "paused", "halted"):
            expect(row.locator("[data-field=state]")).to_contain_text(states[bot], ignore_case=True)
    expect(page.locator("[data-testid=kill-all]")).to_have_count(1)
    health = page.locator("[data-testid=health]")
    for name in ("database", "cache", "broker", "workers", "market-data"):
        expect(health.locator(f"[data-field={name}]")).not_to_have_text("")
    expect(health.locator("[data-field=database]")).to_have_text(re.compile(r"^\s*ok\s*$"))
    _consistent_soon(page)
    cockpit = page.evaluate("() => window.cockpit && typeof window.cockpit.applied")
    assert cockpit == "number", "window.cockpit.applied is missing"
    page.console.assert_clean("the overview")
    screenshot(page, "overview")


def test_a_worker_fill_moves_the_position_and_equity_without_reload(page, platform) -> None:
    bot, symbol = "demo-signal", "ETHUSDT"
    assert platform.position(bot, symbol) == 0
    page.goto("/")
    wait_live(page)
    row = _position_rows(page, bot, symbol)
    expect(row).to_have_count(0)
    equity = _bot_row(page, bot).locator("[data-field=equity]")
    expect(equity).not_to_have_text("")
    equity_before = equity.inner_text()
    page.evaluate("() => { window.__sameDocument = 'still'; }")
    applied_before = page.evaluate("() => window.cockpit.applied")

    # The webhook goes to the embedded worker, which places and fills it on the paper venue.
    signal_id = platform.webhook(bot, f"{symbol}.P", "buy", quote_amount="500")
    platform.signal_placed(signal_id)
    quantity = platform.wait_position(bot, symbol)
    [(entry,)] = platform.sql(
        "select p.entry_price from trading_position p join bots_bot b on b.id = p.bot_id "
        "where b.name = ? and p.symbol = ?",
        bot,
        symbol,
    )

    expect(row).to_have_count(1, timeout=3_000)
    assert number(row.locator("[data-field=quantity]").inner_text()) == quantity
    shown_entry = number(row.locator("[data-field=entry]").inner_text())
    assert abs(shown_entry - Decimal(str(entry))) <= Decimal(str(entry)) * Decimal("0.0001")
    for name in ("mark", "unrealized"):
        expect(row.locator(f"[data-field={name}]")).to_have_count(1)
    # the fee of the entry moves the bot's equity (to cents), and the total with it
    expect(equity).not_to_have_text(equity_before, timeout=3_000)
    _consistent_soon(page)
    assert page.evaluate("() => window.__sameDocument") == "still", "the page was reloaded"
    assert page.evaluate("() => performance.getEntriesByType('navigation').length") == 1
    assert page.evaluate("() => window.cockpit.applied") > applied_before
    page.console.assert_clean("the overview")
    screenshot(page, "overview-after-fill")


class _Dialogs:
    """Answers the page's dialogs: dismiss or accept, and remembers them."""

    def __init__(self, page) -> None:
        self.seen: list[tuple[str, str]] = []
        self.accept = False
        page.on("dialog", self._answer)

    def _answer(self, dialog) -> None:
        self.seen.append((dialog.type, dialog.message))
        if not self.accept:
            dialog.dismiss()
        elif dialog.type == "prompt":
            dialog.accept("browser test")
        else:
            dialog.accept()


def test_the_kill_switch_asks_then_flattens_a_paper_bot(page, platform) -> None:
    signal_id = platform.webhook(KILL_BOT, "BTCUSDT.P", "buy", quote_amount="300")
    platform.signal_placed(signal_id)
    platform.wait_position(KILL_BOT, "BTCUSDT")
    page.goto("/")
    wait_live(page)
    rows = _position_rows(page, KILL_BOT)
    expect(rows).to_have_count(1, timeout=5_000)
    state = _bot_row(page, KILL_BOT).locator("[data-field=state]")
    dialogs = _Dialogs(page)
    button = page.locator(f'[data-testid=kill-bot][data-bot="{KILL_BOT}"]')

    button.click()  # asks first; "Cancel" does nothing
    assert [kind for kind, _ in dialogs.seen] == ["confirm"], dialogs.seen
    page.wait_for_timeout(1_500)
    expect(rows).to_have_count(1)
    assert platform.sql("select state from bots_bot where name = ?", KILL_BOT) == [("running",)]

    dialogs.accept = True
    button.click()
    assert len(dialogs.seen) == 2, dialogs.seen
    expect(rows).to_have_count(0, timeout=10_000)
    expect(state).to_contain_text("halted", ignore_case=True, timeout=5_000)
    assert platform.position(KILL_BOT, "BTCUSDT") == 0
    assert platform.sql("select state from bots_bot where name = ?", KILL_BOT) == [("halted",)]
    open_orders = platform.sql(
        "select count(*) from orders_order o join bots_bot b on b.id = o.bot_id where b.name = ? "
        "and o.status in ('PENDING_NEW', 'NEW', 'TRIGGERED', 'PARTIALLY_FILLED', 'PENDING_CANCEL')",
        KILL_BOT,
    )
    assert open_orders == [(0,)], open_orders
    _consistent_soon(page)
    screenshot(page, "overview-after-kill")

    # the platform-wide kill switch asks too; cancelled, no bot is halted
    dialogs.accept = False
    page.locator("[data-testid=kill-all]").click()
    assert len(dialogs.seen) == 3 and dialogs.seen[-1][0] == "confirm", dialogs.seen
    page.wait_for_timeout(1_500)
    halted = platform.sql(
        "select name from bots_bot where state = 'halted' and name <> ?", KILL_BOT
    )
    assert halted == [], halted
    page.console.assert_clean("the overview")


def test_pause_and_resume_ask_and_change_the_state(page, platform) -> None:
    bot = "demo-scalp"
    page.goto("/")
    wait_live(page)
    dialogs = _Dialogs(page)
    dialogs.accept = True
    state = _bot_row(page, bot).locator("[data-field=state]")
    page.locator(f'[data-testid=pause-bot][data-bot="{bot}"]').click()
    expect(state).to_contain_text("paused", ignore_case=True, timeout=5_000)
    assert platform.sql("select state from bots_bot where name = ?", bot) == [("paused",)]
    page.locator(f'[data-testid=resume-bot][data-bot="{bot}"]').click()
    expect(state).to_contain_text("running", ignore_case=True, timeout=5_000)
    assert platform.sql("select state from bots_bot where name = ?", bot) == [("running",)], (
        platform.sql("select state, state_cause, state_reason from bots_bot where name = ?", bot)
    )
    assert [kind for kind, _ in dialogs.seen] == ["confirm", "confirm"], dialogs.seen
    page.console.assert_clean("the overview")
