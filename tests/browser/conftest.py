"""The real-browser harness of the cockpit (issue 14, docs/cockpit-contract.md).

The platform runs as it really runs: ``manage.py runplatform`` (daphne, ASGI, the embedded
Celery worker and beat, the in-process channel layer) on a free 127.0.0.1 port, on the dev
settings and a temporary SQLite file that the tests also read (``Platform.sql``) and that a
``manage.py shell`` process writes to once at start (a non-staff user and a session of his, a
second paper signal bot, two finished backtests and an optimisation run). The demo is loaded
and its paper bots trade the replayed market, so events flow the whole time; a test makes a
fill of its own by posting a TradingView webhook signal, which the embedded worker places on
the paper venue (a real worker, a real fill).

Chromium is Debian's (``/usr/bin/chromium``, or ``$CHROMIUM``): Playwright cannot download
its own browser here. Without it the tests are skipped, with the reason; with
``REQUIRE_SERVICES=1`` (``.ci/run``) they fail instead.

Everything is session-scoped (one platform, one browser, one staff login) and stops by itself
at the end. Screenshots go to ``var/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import shared_data_file
from testsupport import processes
from testsupport.browser import CHROMIUM, CHROMIUM_ARGS

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "var" / "screenshots"
STAFF_USER, STAFF_PASSWORD = "cockpit-staff", "staff-pw-4711-browser"
VIEWER_USER, VIEWER_PASSWORD = "cockpit-viewer", "viewer-pw-4711-browser"
# staff with no model permission, only a grant to pause/resume one bot (docs/security.md)
DESK_USER, DESK_PASSWORD, DESK_BOT = "cockpit-desk", "desk-pw-4711-browser", "demo-swing"
WEBHOOK_SECRET = "browser-webhook-secret-4711"
KILL_BOT = "browser-kill"  # a second paper signal bot, flattened by the kill switch test
BACKTEST_DATA = "futures/BTCUSDT-1h.csv.gz"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives the cockpit in a real browser (Playwright + chromium)"
    )


def _unavailable(reason: str) -> None:
    """No browser: a skip with the reason, a failure where services are required (CI)."""
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


# --- the platform ------------------------------------------------------------------------------
SETUP_SCRIPT = r"""
import json, sys
from datetime import UTC, datetime
from importlib import import_module

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.core.management import call_command

from apps.backtest.models import BacktestRun
from apps.backtest.services import backtest_run_execute
from apps.bots.models import Bot, BotGrant
from apps.exchange.domain.types import datetime_to_ms
from apps.risk.models import RiskSettings

args = ARGS
out = {}
users = get_user_model()
viewer = users.objects.create_user(args["viewer"], "viewer@example.com", args["viewer_pw"])
assert not viewer.is_staff
store = import_module(settings.SESSION_ENGINE).SessionStore()
store[SESSION_KEY] = str(viewer.pk)
store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
store[HASH_SESSION_KEY] = viewer.get_session_auth_hash()
store.create()
out["viewer_session"] = store.session_key

desk = users.objects.create_user(args["desk"], "desk@example.com", args["desk_pw"], is_staff=True)
BotGrant.objects.create(
    user=desk, bot=Bot.objects.get(name=args["desk_bot"]), permission="pause_bot"
)

src = Bot.objects.get(name="demo-signal")
bot = Bot(
    name=args["kill_bot"], account=src.account, strategy=src.strategy, symbols=src.symbols,
    leverage=src.leverage, trading_mode=Bot.TradingMode.PAPER, state=Bot.State.RUNNING,
    state_reason="browser test bot",
)
bot.full_clean()
bot.save()
RiskSettings.objects.get_or_create(bot=bot)

def ms(day):
    return datetime_to_ms(datetime.fromisoformat(day).replace(tzinfo=UTC))

runs = []
for fast, slow in ((9, 21), (12, 26)):
    run = BacktestRun.objects.create(
        strategy="ema_cross", parameters={"fast": fast, "slow": slow},
        data_files=[args["data"]], start_ms=ms("2025-03-01"), end_ms=ms("2025-06-01"),
    )
    backtest_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "done", (run.status, run.error)
    runs.append(run.pk)
out["backtests"] = runs
call_command(
    "optimize", "--strategy", "ema_cross", "--data", args["data_path"], "--start", "2024-10-01",
    "--end", "2025-06-01", "--trials", "3", "--train", "2000", "--test", "1000",
    "--warmup", "100", stdout=sys.stderr, stderr=sys.stderr,
)
from apps.backtest.models import OptimizationRun
out["optimization"] = OptimizationRun.objects.latest("pk").pk
print("SETUP " + json.dumps(out))
"""


@dataclass
class Platform:
    url: str
    db: Path
    env: dict[str, str]
    server: processes.Platform
    setup: dict[str, Any] = field(default_factory=dict)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/ws/live/"

    def sql(self, query: str, *args: object) -> list[tuple]:
        with sqlite3.connect(self.db, timeout=30) as conn:
            return conn.execute(query, args).fetchall()

    def alive(self) -> None:
        self.server.alive()

    def webhook(self, bot: str, symbol: str, action: str, **size: str) -> int:
        body = {
            "passphrase": WEBHOOK_SECRET,
            "bot": bot,
            "symbol": symbol,
            "action": action,
            "time": datetime.now(tz=UTC).isoformat(),
            **size,
        }
        answer = requests.post(
            f"{self.url}/api/webhook/tradingview/", data=json.dumps(body), timeout=10
        )
        assert answer.status_code == 202, answer.text
        return int(answer.json()["signal_id"])

    def signal_placed(self, signal_id: int, timeout: float = 30) -> None:
        """Wait until the worker decided the signal; it must be placed."""
        deadline = time.monotonic() + timeout
        outcome = detail = "accepted"
        while time.monotonic() < deadline:
            [(outcome, detail)] = self.sql(
                "select outcome, detail from trading_signal where id = ?", signal_id
            )
            if outcome != "accepted":
                break
            time.sleep(0.2)
        assert outcome == "placed", (outcome, detail)

    def position(self, bot: str, symbol: str) -> Decimal:
        rows = self.sql(
            "select p.quantity from trading_position p join bots_bot b on b.id = p.bot_id "
            "where b.name = ? and p.symbol = ?",
            bot,
            symbol,
        )
        return Decimal(str(rows[0][0])) if rows else Decimal(0)

    def wait_position(self, bot: str, symbol: str, timeout: float = 15) -> Decimal:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            qty = self.position(bot, symbol)
            if qty != 0:
                return qty
            time.sleep(0.2)
        raise AssertionError(f"{bot} {symbol}: no position in the database after {timeout} s")


def _platform_env(tmp: Path, shared_data: Path) -> dict[str, str]:
    return processes.process_env(
        SQLITE_PATH=str(tmp / "db.sqlite3"),
        STATIC_ROOT=str(tmp / "static"),
        SHARED_DATA_DIR=str(shared_data),
        FIELD_ENCRYPTION_KEY="Pv2yJ5M1o0x3Zf6j3Pq2aHn0QqB1Zo8c2sYq9fXzH4k=",
        ADMIN_USERNAME=STAFF_USER,
        ADMIN_PASSWORD=STAFF_PASSWORD,
        WEBHOOK_SECRET=WEBHOOK_SECRET,
    )


@pytest.fixture(scope="session")
def chromium() -> str:
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"no chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("the playwright package is not installed (requirements/dev.txt)")
    return CHROMIUM


@pytest.fixture(scope="package")  # closed with the package: Playwright's loop must not outlive it
def platform(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    shared_data = shared_data_file(BACKTEST_DATA).parents[1]
    tmp = tmp_path_factory.mktemp("cockpit")
    env = _platform_env(tmp, shared_data)
    server = processes.Platform(env=env, log=tmp / "runplatform.log")
    platform = Platform(server.url, tmp / "db.sqlite3", env, server)
    try:
        server.start()
        args = {
            "viewer": VIEWER_USER,
            "viewer_pw": VIEWER_PASSWORD,
            "desk": DESK_USER,
            "desk_pw": DESK_PASSWORD,
            "desk_bot": DESK_BOT,
            "kill_bot": KILL_BOT,
            "data": BACKTEST_DATA,
            "data_path": str(shared_data / BACKTEST_DATA),
        }
        script = f"ARGS = {args!r}\n{SETUP_SCRIPT}"
        done = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", script],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        found = re.search(r"^SETUP (.+)$", done.stdout, re.M)
        assert done.returncode == 0 and found, f"set-up failed:\n{done.stdout}\n{done.stderr}"
        platform.setup = json.loads(found.group(1))
        yield platform
    finally:
        server.stop()


# --- the browser -------------------------------------------------------------------------------
@pytest.fixture(scope="package")  # closed with the package: Playwright's loop must not outlive it
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


#: Every Content-Security-Policy violation becomes a console error (Chromium logs most refusals
#: itself; the event also catches those it reports only to listeners).
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline")
    + " at " + e.sourceFile + ":" + e.lineNumber + " sample " + e.sample);
});
"""


class ConsoleWatch:
    """Console errors, uncaught exceptions and Content-Security-Policy violations of one page."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.add_init_script(CSP_LISTENER)
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _console(self, msg: Any) -> None:
        if msg.type == "error":
            where = msg.location or {}
            self.errors.append(f"console.error: {msg.text} ({where.get('url', '')})")

    def assert_clean(self, what: str = "") -> None:
        assert not self.errors, f"JavaScript errors{' on ' + what if what else ''}:\n" + "\n".join(
            self.errors
        )


def login(page: Any, username: str, password: str, next_path: str = "/") -> None:
    """Log in through the admin's login form, like a person."""
    page.goto(f"/admin/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_load_state("load")


@pytest.fixture(scope="package")  # closed with the package: Playwright's loop must not outlive it
def staff_context(browser: Any, platform: Platform) -> Iterator[Any]:
    """A browser context logged in as the staff user (once per session)."""
    context = browser.new_context(base_url=platform.url, viewport={"width": 1440, "height": 900})
    page = context.new_page()
    try:
        login(page, STAFF_USER, STAFF_PASSWORD)
        assert "sessionid" in {c["name"] for c in context.cookies()}, "staff login failed"
    finally:
        page.close()
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(staff_context: Any) -> Iterator[Any]:
    """A fresh tab of the logged-in staff user; its JavaScript errors in ``page.console``."""
    tab = staff_context.new_page()
    tab.console = ConsoleWatch(tab)
    tab.set_default_timeout(15_000)
    try:
        yield tab
    finally:
        tab.close()


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def wait_live(page: Any, timeout_ms: int = 15_000) -> None:
    from playwright.sync_api import expect

    expect(page.locator("[data-testid=live-status]")).to_have_text(
        re.compile(r"^\s*live\s*$", re.I), timeout=timeout_ms
    )


def number(text: str) -> Decimal:
    """A figure as the page shows it (``-1,234.56``, ``+0.25``, ``12.34 %``) as a Decimal."""
    cleaned = re.sub(r"[^0-9.\-]", "", text.replace("\u2212", "-"))
    assert re.fullmatch(r"-?\d+(\.\d+)?", cleaned), f"not a number: {text!r}"
    return Decimal(cleaned)


CANVAS_SIZE_JS = """(root) => Array.from(root.querySelectorAll('canvas, svg')).map(c => {
    const r = c.getBoundingClientRect();
    const canvas = c.tagName.toLowerCase() === 'canvas';
    return {tag: c.tagName.toLowerCase(), w: r.width, h: r.height,
            pw: canvas ? c.width : r.width, ph: canvas ? c.height : r.height};
})"""


def assert_chart_drawn(page: Any, selector: str, *, kinds: tuple[str, ...] = ("canvas",)) -> None:
    """The chart container exists and holds a drawing surface (canvas; svg where allowed) of
    non-zero size (laid out and with pixels), within 10 s."""
    from playwright.sync_api import expect

    container = page.locator(selector).first
    expect(container).to_be_attached(timeout=10_000)
    deadline = time.monotonic() + 10
    while True:
        surfaces = container.evaluate(CANVAS_SIZE_JS)
        drawn = [
            s for s in surfaces if s["tag"] in kinds and min(s["w"], s["h"], s["pw"], s["ph"]) > 0
        ]
        if drawn:
            return
        assert time.monotonic() < deadline, (
            f"{selector}: no {'/'.join(kinds)} of non-zero size inside ({surfaces})"
        )
        page.wait_for_timeout(200)


HEATMAP_JS = """(root) => {
  const sized = (e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  return {
    surfaces: Array.from(root.querySelectorAll('canvas, svg')).filter(sized).length,
    cells: Array.from(root.querySelectorAll('td, [data-value]'))
      .filter(e => sized(e) && e.textContent.trim() !== '').length,
  };
}"""


def assert_heatmap_drawn(page: Any, selector: str) -> None:
    """A heat map: a canvas or svg of non-zero size, or a grid with at least one filled cell
    (``td`` or ``[data-value]``)."""
    from playwright.sync_api import expect

    container = page.locator(selector).first
    expect(container).to_be_attached(timeout=10_000)
    deadline = time.monotonic() + 10
    while True:
        found = container.evaluate(HEATMAP_JS)
        if found["surfaces"] or found["cells"]:
            return
        assert time.monotonic() < deadline, f"{selector}: nothing drawn ({found})"
        page.wait_for_timeout(200)
