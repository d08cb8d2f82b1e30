"""Benchmark the cockpit (issue 14); prints figures, asserts nothing.

    python benchmarks/bench_cockpit.py                # both parts (about a minute on 2 cores)
    python benchmarks/bench_cockpit.py --no-fanout    # the server time only

- first render: the overview (``GET /``) and its JSON snapshot (``/api/cockpit/snapshot/``, what
  every reconnect fetches) with 10 paper bots, 10,000 closed trades, an open position and its
  stop order per bot; server time through Django's test client (middleware, view, queries,
  template; DEBUG off), median of ``--runs`` after two warm-up requests; a scratch SQLite
  database in a temporary folder.
- fan-out: ``manage.py runplatform`` (daphne) on that database with Redis as the channel layer,
  ``--pages`` Playwright pages (Debian's chromium) open on the overview, and another process
  (``manage.py shell``) publishing ``--rate`` position events a second for ``--seconds``
  through the real channel layer: channels-redis ``group_send`` of the message
  ``apps.events.publish_event`` sends, from one asyncio loop (``publish_event`` itself pays an
  ``async_to_sync`` per call and cannot hold 100/s beside ten browser pages on 2 cores); the
  events are mark-to-market moves of the bots' open positions.
  Each event carries its send time (the publisher's ``time.time()``); a script injected into
  every page (``page.add_init_script``) wraps the websocket's message handler and records,
  with the page's own clock (``performance.timeOrigin + performance.now()``), when the event
  arrived and when live.js had applied it. Latency = applied - sent (same machine, same clock).
  Needs Redis at ``--redis`` (default redis://127.0.0.1:6379/13) and /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
_tmp = Path(tempfile.mkdtemp(prefix="bench-cockpit-"))
atexit.register(shutil.rmtree, _tmp, ignore_errors=True)
ENV = {
    "DJANGO_SETTINGS_MODULE": "tradingplatform.settings.dev",
    "TRADINGPLATFORM_ENV_FILE": "",
    "SQLITE_PATH": str(_tmp / "db.sqlite3"),
    "STATIC_ROOT": str(_tmp / "static"),
    "DJANGO_DEBUG": "0",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
    "MARKET_REPLAY_START": "",  # wall-clock market time: "today" is today
    "FIELD_ENCRYPTION_KEY": "Pv2yJ5M1o0x3Zf6j3Pq2aHn0QqB1Zo8c2sYq9fXzH4k=",
    "DATABASE_URL": "",
    "REDIS_URL": "",
    "CELERY_BROKER_URL": "memory://",
}
os.environ.update(ENV)

import logging  # noqa: E402

import django  # noqa: E402

logging.disable(logging.WARNING)  # the figures only

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from apps.bots.models import Bot  # noqa: E402
from apps.core.demo import demo_load  # noqa: E402
from apps.orders.models import Order  # noqa: E402
from apps.risk.models import RiskSettings  # noqa: E402
from apps.trading.models import Position, Trade  # noqa: E402
from testsupport.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

STAFF, PASSWORD = "bench", "bench-pw-4711"
PRICES = {
    "BTCUSDT": 108000,
    "ETHUSDT": 4300,
    "SOLUSDT": 200,
    "XRPUSDT": 2.8,
    "ADAUSDT": 0.8,
    "BNBUSDT": 850,
}


def seed(*, bots: int, trades: int) -> list[tuple[str, str]]:
    """``bots`` paper bots (the demo's four and copies), ``trades`` closed trades spread over
    them and 90 days (some today), one open position with its stop per bot. Returns the
    (bot, symbol) of the positions."""
    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    demo_load(running=True)
    demo = list(Bot.objects.order_by("name"))
    for i in range(bots - len(demo)):
        src = demo[i % len(demo)]
        copy = Bot.objects.create(
            name=f"bench-{i + 1:02d}",
            account=src.account,
            strategy=src.strategy,
            symbols=src.symbols,
            leverage=src.leverage,
            trading_mode=Bot.TradingMode.PAPER,
            state=Bot.State.RUNNING,
        )
        RiskSettings.objects.get_or_create(bot=copy)
    rng = random.Random(7)
    now = timezone.now()
    all_bots = list(Bot.objects.order_by("name"))
    rows = []
    for n in range(trades):
        bot = all_bots[n % len(all_bots)]
        symbol = bot.symbols[n % len(bot.symbols)]
        price = Decimal(str(PRICES.get(symbol, 100)))
        qty = (Decimal(1000) / price).quantize(Decimal("0.001"))
        exit_at = now - timedelta(minutes=rng.randint(0, 90 * 24 * 60))
        move = Decimal(str(round(rng.gauss(0, 0.01), 5)))
        pnl = (price * move * qty).quantize(Decimal("0.0001"))
        rows.append(
            Trade(
                bot=bot,
                symbol=symbol,
                side="LONG" if n % 2 else "SHORT",
                mode=bot.strategy.mode,
                quantity=qty,
                entry_price=price,
                exit_price=price * (1 + move),
                leverage=bot.leverage,
                entry_time=exit_at - timedelta(hours=rng.randint(1, 48)),
                exit_time=exit_at,
                status=Trade.Status.CLOSED,
                roi=move,
                fees=(price * qty * Decimal("0.0008")).quantize(Decimal("0.0001")),
                realized_pnl=pnl,
                exit_reason=rng.choice(["signal", "stop_loss", "take_profit"]),
            )
        )
    Trade.objects.bulk_create(rows, batch_size=2000)
    positions = []
    for i, bot in enumerate(all_bots):
        symbol = bot.symbols[0]
        price = Decimal(str(PRICES.get(symbol, 100)))
        qty = (Decimal(2000) / price).quantize(Decimal("0.001"))
        trade = Trade.objects.create(
            bot=bot,
            symbol=symbol,
            side="LONG",
            mode=bot.strategy.mode,
            quantity=qty,
            remaining_quantity=qty,
            entry_price=price,
            leverage=bot.leverage,
            entry_time=now - timedelta(hours=2),
        )
        Position.objects.create(
            bot=bot,
            symbol=symbol,
            side="LONG",
            quantity=qty,
            entry_price=price,
            mark_price=price,
            leverage=bot.leverage,
            stop_price=price * Decimal("0.98"),
        )
        Order.objects.create(
            bot=bot,
            trade=trade,
            symbol=symbol,
            client_order_id=f"bench-stop-{i}",
            purpose=Order.Purpose.STOP_LOSS,
            type=Order.Type.STOP_MARKET,
            side=Order.Side.SELL,
            reduce_only=True,
            trigger_price=price * Decimal("0.98"),
            quantity=qty,
            status="NEW",
        )
        positions.append((bot.name, symbol))
    user = get_user_model().objects.create_superuser(STAFF, "bench@example.com", PASSWORD)
    assert user.is_staff
    return positions


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def server_time(runs: int) -> None:
    client = Client()
    client.force_login(get_user_model().objects.get(username=STAFF))
    for path in ("/", "/api/cockpit/snapshot/"):
        for _ in range(2):
            assert client.get(path).status_code == 200, path
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            answer = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200
        with CaptureQueriesContext(connection) as queries:
            size = len(client.get(path).content)
        print(
            f"{path:26s} median {statistics.median(times):6.1f} ms  min {min(times):6.1f}  "
            f"max {max(times):6.1f}  ({runs} runs, {len(queries)} queries, {size:,} bytes)"
        )


# --- fan-out -----------------------------------------------------------------------------------
RECORDER = """(() => {
  window.__bench = [];
  const now = () => performance.timeOrigin + performance.now();
  const record = (message, recv) => {
    const applied = now();
    try {
      const e = JSON.parse(message.data);
      if (e.data && e.data.bench_seq !== undefined)
        window.__bench.push([e.data.bench_seq, e.data.t_send_ms, recv, applied]);
    } catch (err) {}
  };
  const wrap = (fn) => function (message) {
    const recv = now();
    const result = fn.apply(this, arguments);
    record(message, recv);
    return result;
  };
  const desc = Object.getOwnPropertyDescriptor(WebSocket.prototype, 'onmessage');
  Object.defineProperty(WebSocket.prototype, 'onmessage', {
    configurable: true, enumerable: true,
    get() { return desc.get.call(this); },
    set(fn) { desc.set.call(this, typeof fn === 'function' ? wrap(fn) : fn); },
  });
  const add = WebSocket.prototype.addEventListener;
  WebSocket.prototype.addEventListener = function (type, fn, opts) {
    const handler = type === 'message' && typeof fn === 'function' ? wrap(fn) : fn;
    return add.call(this, type, handler, opts);
  };
})();"""

PUBLISHER = r"""
import asyncio, json, logging, math, time
from channels.layers import get_channel_layer
from django.utils import timezone
from apps.events import LIVE_GROUP

positions, rate, seconds = ARGS
total = rate * seconds
late = []
failed = 0


class OverCapacity(logging.Handler):  # channels-redis drops a message for a full channel
    dropped = 0

    def emit(self, record):
        if "over capacity" in record.getMessage():
            OverCapacity.dropped += 1


layer_log = logging.getLogger("channels_redis.core")
layer_log.setLevel(logging.INFO)
layer_log.addHandler(OverCapacity())

async def main():
    global failed
    layer = get_channel_layer()
    t0 = time.time() + 0.5
    for i in range(total):
        pause = t0 + i / rate - time.time()
        if pause > 0:
            await asyncio.sleep(pause)
        else:
            late.append(-pause)
        bot, symbol, qty, entry = positions[i % len(positions)]
        mark = entry * (1 + 0.002 * math.sin(i / 7))
        data = {
            "bot": bot, "symbol": symbol, "side": "LONG", "quantity": str(qty),
            "entry_price": str(entry), "mark_price": f"{mark:.4f}",
            "unrealized_pnl": f"{(mark - entry) * qty:.4f}",
            "bench_seq": i, "t_send_ms": time.time() * 1000,
        }
        # the message apps.events.publish_event sends
        event = {"kind": "position", "sent_at": timezone.now().isoformat(), "data": data}
        try:
            await layer.group_send(LIVE_GROUP, {"type": "platform.event", "event": event})
        except Exception:
            failed += 1
    return time.time() - t0

took = asyncio.run(main())
worst = max(late or [0]) * 1000
print("PUBLISHED " + json.dumps(
    {"events": total, "seconds": took, "late_max_ms": worst, "failed": failed,
     "over_capacity": OverCapacity.dropped}))
"""


def _cpu_seconds(root: int, *, skip: int | None = None) -> float:
    """User + system CPU seconds of ``root``'s living descendants (and itself unless it is
    this process), leaving out the subtree of ``skip``."""
    parents, cpu = {}, {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick

    def under(pid: int, top: int) -> bool:
        while pid > 1:
            if pid == top:
                return True
            pid = parents.get(pid, 0)
        return False

    return sum(
        seconds
        for pid, seconds in cpu.items()
        if under(pid, root)
        and not (skip is not None and under(pid, skip))
        and not (pid == root == os.getpid())
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fanout(*, pages: int, rate: int, seconds: int, redis_url: str) -> None:
    import redis
    from playwright.sync_api import expect, sync_playwright

    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        print(f"fan-out: skipped, no Redis at {redis_url} ({exc})")
        return
    if not Path(CHROMIUM).exists():
        print(f"fan-out: skipped, no chromium at {CHROMIUM}")
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "PYTEST"))}
    env.update(
        ENV,
        REDIS_URL=redis_url,
        CHANNELS_PREFIX=f"bench-cockpit-{os.getpid()}",
        PYTHONUNBUFFERED="1",
    )
    env.pop("CELERY_BROKER_URL")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (_tmp / "runplatform.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runplatform", "--port", str(port), "--no-worker"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    positions = [
        (p.bot.name, p.symbol, float(p.quantity), float(p.entry_price))
        for p in Position.objects.select_related("bot").exclude(quantity=0)
    ]
    try:
        import requests

        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (_tmp / "runplatform.log").read_text()[-3000:]
            try:
                if requests.get(f"{url}/health/", timeout=3).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "runplatform did not answer"
            time.sleep(0.3)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 800})
            context.add_init_script(RECORDER)
            login = context.new_page()
            login.goto("/admin/login/?next=/admin/")
            login.fill("#id_username", STAFF)
            login.fill("#id_password", PASSWORD)
            login.click("input[type=submit]")
            login.wait_for_load_state("load")
            login.close()
            tabs = []
            for _ in range(pages):
                tab = context.new_page()
                tab.goto("/")
                tabs.append(tab)
            for tab in tabs:
                expect(tab.locator("[data-testid=live-status]")).to_have_text(
                    "live", timeout=30_000
                )
            time.sleep(1)
            before = [
                tab.evaluate("() => [window.cockpit.applied, window.cockpit.snapshots]")
                for tab in tabs
            ]
            visibility = {tab.evaluate("() => document.visibilityState") for tab in tabs}
            cpu_server = _cpu_seconds(server.pid)
            cpu_browser = _cpu_seconds(os.getpid(), skip=server.pid)
            cpu_children = resource.getrusage(resource.RUSAGE_CHILDREN)
            wall = time.monotonic()
            script = f"ARGS = {[positions, rate, seconds]!r}\n{PUBLISHER}"
            published = subprocess.run(
                [sys.executable, "manage.py", "shell", "-c", script],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=seconds + 120,
                check=False,
            )
            assert published.returncode == 0, published.stderr[-3000:]
            sent = json.loads(published.stdout.split("PUBLISHED ", 1)[1])
            (_tmp / "publisher.log").write_text(published.stderr)
            time.sleep(3)  # the last events arrive
            wall = time.monotonic() - wall
            cpu_server = _cpu_seconds(server.pid) - cpu_server
            cpu_browser = _cpu_seconds(os.getpid(), skip=server.pid) - cpu_browser
            done = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu_publisher = (done.ru_utime + done.ru_stime) - (
                cpu_children.ru_utime + cpu_children.ru_stime
            )
            results = [tab.evaluate("() => window.__bench") for tab in tabs]
            after = [
                tab.evaluate("() => [window.cockpit.applied, window.cockpit.snapshots]")
                for tab in tabs
            ]
            shown = [
                tab.evaluate("() => !!document.querySelector('[data-testid=position-row]')")
                for tab in tabs
            ]
            browser.close()
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    total = sent["events"]
    print(
        f"published {total} position events in {sent['seconds']:.2f} s "
        f"({total / sent['seconds']:.1f}/s; worst lateness {sent['late_max_ms']:.1f} ms; "
        f"{sent['failed']} failed to publish; {sent['over_capacity']} group sends found the "
        "pages' channel full: those events were dropped by channels-redis) "
        f"to {pages} pages (visibility: {', '.join(sorted(visibility))})"
    )
    latencies, handler, worst_pages = [], [], []
    for i, rows in enumerate(results):
        seqs = {r[0] for r in rows}
        lat = [r[3] - r[1] for r in rows]
        handler.extend(r[3] - r[2] for r in rows)
        latencies.extend(lat)
        applied = after[i][0] - before[i][0]
        snaps = after[i][1] - before[i][1]
        worst_pages.append(max(lat) if lat else float("nan"))
        missing = sorted(set(range(total)) - seqs)
        if missing:
            print(f"  page {i + 1:2d}: missing {len(missing)}: {missing[:12]}")
        print(
            f"  page {i + 1:2d}: received {len(seqs):4d}/{total}, applied +{applied}, "
            f"sent->applied p50 {statistics.median(lat):6.1f} ms  p99 {_pct(lat, 99):6.1f} ms  "
            f"max {max(lat):6.1f} ms, snapshots +{snaps}, rows shown {shown[i]}"
        )
    print(
        f"CPU seconds in the {wall:.1f} s of publishing (+3 s) on {os.cpu_count()} CPUs: "
        f"server (daphne) {cpu_server:.1f}, browser ({pages} pages + Playwright) "
        f"{cpu_browser:.1f}, publisher {cpu_publisher:.1f}; load average (1 min) "
        f"{os.getloadavg()[0]:.1f}"
    )
    within = sum(1 for x in latencies if x <= 1000) / len(latencies) * 100
    print(
        f"all pages: {len(latencies)} deliveries of {total * pages}; sent->applied "
        f"p50 {statistics.median(latencies):.1f} ms, p95 {_pct(latencies, 95):.1f} ms, "
        f"p99 {_pct(latencies, 99):.1f} ms, max {max(latencies):.1f} ms; "
        f"{within:.2f} % within 1 s; live.js handler p50 {statistics.median(handler):.2f} ms, "
        f"max {max(handler):.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", type=int, default=10)
    parser.add_argument("--trades", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--rate", type=int, default=100, help="events a second")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--no-fanout", action="store_true")
    args = parser.parse_args()
    print(f"load average (1 min) before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    started = time.perf_counter()
    positions = seed(bots=args.bots, trades=args.trades)
    print(
        f"scratch database: {Bot.objects.count()} bots, {Trade.objects.count():,} trades, "
        f"{len(positions)} open positions with their stops ({time.perf_counter() - started:.1f} s)"
    )
    print("== overview first render, server time (Django test client, DEBUG off)")
    server_time(args.runs)
    if not args.no_fanout:
        print(f"== fan-out: {args.rate} events/s for {args.seconds} s to {args.pages} open pages")
        fanout(pages=args.pages, rate=args.rate, seconds=args.seconds, redis_url=args.redis)


if __name__ == "__main__":
    main()
