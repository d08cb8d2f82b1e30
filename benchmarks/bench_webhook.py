"""Load benchmark of the TradingView webhook on loopback; prints figures, asserts nothing.

    apt-get install -y wrk                            # the load generator (C, 4.1)
    python benchmarks/bench_webhook.py                # 2 web processes, 20 s at 16 connections,
                                                      # then a burst of 1,000 alerts at once
    python benchmarks/bench_webhook.py --web 1 --connections 20 --seconds 30
    python benchmarks/bench_webhook.py --worker       # also: a Celery worker and beat, the bot's
                                                      # candle cycles going on; acted-on latency
    python benchmarks/bench_webhook.py --worker --skip sustained,burst --paced 5 --seconds 30 \
        --db bench_webhook_signals --redis-db 11 --port 8775   # only that, beside another run

The platform runs as in production (``tradingplatform.settings.prod``): daphne web process(es)
(``apps.core.daphne_server``, as docker-compose runs it) on PostgreSQL (database
``bench_webhook``, created and migrated here) and Redis (db 13: cache, throttle counters and the
Celery broker). ``--web N`` starts N daphne processes that all accept on one listening socket
(``--fd``; the kernel spreads the connections), as N web containers behind the proxy would.

A running signal bot trades BTCUSDT on the paper venue. Every request is a new, valid TradingView
alert (its own ``alert_id``, the current ``time``), so each one is authenticated, validated,
checked for repeats and actionability, stored under the unique constraint and queued: the full
accepted path.

Phases:
- **sustained**: ``wrk`` (one thread, ``--connections`` connections, closed loop; a Lua script
  makes every request a distinct alert). wrk costs a fraction of the server's CPU: its CPU
  seconds are printed next to the web processes'.
- **burst**: ``--burst`` alerts sent at once, each on its own new connection (asyncio, requests
  built before the clock starts; about 0.2 s of CPU for 1,000), each one's latency from the
  burst's start to its answer.
- with ``--worker``: a Celery worker (threads, 4, as the chaos campaign runs it) and beat run,
  and the market is replayed (``--replay-speed``, candles close every few seconds), so the
  bot's candle cycles go on. A paced phase sends ``--paced`` alerts/s for ``--seconds``
  (alternately close and buy, so each one places an order); then,
  for every phase, the acted-on latency (``processed_at - received_at`` of each accepted
  signal: its decision, placed or blocked by a risk rule) and the placed orders' latency
  (``order.created_at - received_at``) are read from the database.

Lost signals: answered 202 but not in the database (by ``alert_id``), and sent but neither
answered nor stored.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
BIN = Path(PYTHON).parent
DB_NAME = "bench_webhook"
DSN = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
REDIS_URL = "redis://127.0.0.1:6379/13"
SECRET = secrets.token_urlsafe(24)
BOT = "bench-signal"
PATH = "/api/webhook/tradingview/"
REPLAY_START = "2025-09-28T00:00:00+00:00"
TICK = os.sysconf("SC_CLK_TCK")

WRK_SCRIPT = """
local threads = {}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end
function init(args)
  statuses = {}
  n = 0
end
function request()
  n = n + 1
  local body = string.format(
    '{"passphrase":"%s","bot":"%s","symbol":"BTCUSDT.P","action":"buy","order_type":"market",'
    .. '"quote_amount":"200","alert_id":"%s-%d-%d","time":"%s"}',
    SECRET, BOT, PREFIX, tid, n, os.date("!%Y-%m-%dT%H:%M:%SZ"))
  return wrk.format("POST", PATH, {["Content-Type"] = "text/plain"}, body)
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local parts = {}
  for _, thread in ipairs(threads) do
    for code, count in pairs(thread:get("statuses")) do
      table.insert(parts, string.format('["%d", %d]', code, count))
    end
  end
  io.write(string.format(
    'WRK-JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, '
    .. '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, "statuses": [%s]}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout, table.concat(parts, ", ")))
end
"""


TAG = ""  # names the logs of a run beside another one (``--db``)


def configure(args: argparse.Namespace) -> None:
    global DB_NAME, DSN, REDIS_URL, TAG
    DB_NAME = args.db
    DSN = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
    REDIS_URL = f"redis://127.0.0.1:6379/{args.redis_db}"
    TAG = "" if DB_NAME == "bench_webhook" else f"{DB_NAME}-"


def signal_tasks(log: Path) -> dict[str, Any]:
    """How often the worker ran ``trading.signal_process`` (sweep re-dispatches included) and
    retried it (a busy bot), from its log."""
    text = log.read_text(errors="replace") if log.exists() else ""
    received = sum(
        1 for line in text.splitlines() if "trading.signal_process[" in line and "received" in line
    )
    retries = sum(
        1 for line in text.splitlines() if "trading.signal_process[" in line and "retry" in line
    )
    return {"runs": received, "retries": retries, "log": str(log)}


def environment(args: argparse.Namespace) -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE"))}
    env.update(
        DJANGO_SETTINGS_MODULE="tradingplatform.settings.prod",
        TRADINGPLATFORM_ENV_FILE="",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="0",
        DATABASE_URL=DSN,
        REDIS_URL=REDIS_URL,
        FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        WEBHOOK_SECRET=SECRET,
        WEBHOOK_THROTTLE_RATE="1000000/minute",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    if args.worker:
        env.update(MARKET_REPLAY_START=REPLAY_START, MARKET_REPLAY_SPEED=str(args.replay_speed))
    return env


def prepare(env: dict[str, str]) -> None:
    import psycopg
    import redis

    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as db:
        db.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        db.execute(f"CREATE DATABASE {DB_NAME}")
    redis.Redis.from_url(REDIS_URL).flushdb()
    manage = [PYTHON, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True, cwd=ROOT)
    setup = f"""
from datetime import UTC, datetime
from apps.bots.models import Bot
from apps.core.demo import demo_load
from apps.exchange.models import ExchangeAccount
from apps.strategies.models import Strategy
from apps.trading.replay import ensure_klines
demo_load()
ensure_klines(symbol="BTCUSDT", interval="1h", start=datetime(2025, 9, 27, tzinfo=UTC),
              end=datetime(2025, 10, 3, tzinfo=UTC))
Bot.objects.create(name={BOT!r}, account=ExchangeAccount.objects.first(),
                   strategy=Strategy.objects.get(kind="signal"), symbols=["BTCUSDT"],
                   state="running")
"""
    subprocess.run([*manage, "shell", "-c", setup], env=env, check=True, cwd=ROOT)
    subprocess.run([*manage, "setup_periodic_tasks", "-v", "0"], env=env, check=True, cwd=ROOT)


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def named_cpu(name: str) -> dict[int, float]:
    """CPU seconds of each process called ``name`` (PostgreSQL's backends, redis-server)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found[int(entry.name)] = cpu_seconds(int(entry.name))
            except OSError:
                continue
    return found


class Cpu:
    """CPU seconds spent by the web processes (and PostgreSQL, Redis: all of this machine's)
    between ``start`` and ``stop``."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids

    def sample(self) -> dict[str, dict[int, float]]:
        return {
            "web": {p: cpu_seconds(p) for p in self.pids},
            "postgres": named_cpu("postgres"),
            "redis": named_cpu("redis-server"),
        }

    def __enter__(self) -> Cpu:
        self.before = self.sample()
        return self

    def __exit__(self, *exc: object) -> None:
        after = self.sample()
        # processes that lived through the whole phase (other agents' backends come and go;
        # a backend that ended takes its seconds with it)
        self.used = {
            kind: sum(cpu - self.before[kind][pid] for pid, cpu in now.items()
                      if pid in self.before[kind])
            for kind, now in after.items()
        }  # fmt: skip


def wait_healthy(port: int, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the web process on port {port} did not answer /health/")


def alert(alert_id: str, action: str = "buy") -> bytes:
    return json.dumps(
        {
            "passphrase": SECRET,
            "bot": BOT,
            "symbol": "BTCUSDT.P",
            "action": action,
            "order_type": "market",
            **({} if action == "close" else {"quote_amount": "200"}),
            "alert_id": alert_id,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    ).encode()


def http_request(body: bytes, port: int) -> bytes:
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def _one(port: int, raw: bytes, start: float, limit_s: float) -> tuple[int, float]:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), limit_s)
        writer.write(raw)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), limit_s)
        writer.close()
        status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    except (OSError, TimeoutError, ValueError, IndexError):
        status = 0
    return status, time.perf_counter() - start


async def _burst(port: int, bodies: list[bytes], limit_s: float) -> list[tuple[int, float]]:
    requests = [http_request(body, port) for body in bodies]
    start = time.perf_counter()
    return await asyncio.gather(*(_one(port, raw, start, limit_s) for raw in requests))


async def _paced(port: int, prefix: str, rate: float, seconds: float) -> list[tuple[int, float]]:
    tasks = []
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        # close, buy, close, ...: each one places an order (the warm-up opened a position)
        raw = http_request(alert(f"{prefix}-{i}", "buy" if i % 2 else "close"), port)
        tasks.append(asyncio.ensure_future(_one(port, raw, time.perf_counter(), 10)))
    return await asyncio.gather(*tasks)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def stored(prefix: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(DSN) as db:
        rows = db.execute(
            "SELECT outcome, count(*) FROM trading_signal WHERE alert_id LIKE %s GROUP BY 1",
            (prefix + "-%",),
        ).fetchall()
    return dict(rows)


def phase_line(name: str, result: dict[str, Any]) -> None:
    print(f"\n== {name}")
    for key, value in result.items():
        print(f"  {key}: {value}")


def run_wrk(args: argparse.Namespace, cpu_pids: list[int], tmp: Path) -> dict[str, Any]:
    script = tmp / "alerts.lua"
    script.write_text(
        f"SECRET = {json.dumps(SECRET)}\nBOT = {json.dumps(BOT)}\nPATH = {json.dumps(PATH)}\n"
        f'PREFIX = "s"\n{WRK_SCRIPT}'
    )
    command = [
        "wrk",
        "-t1",
        f"-c{args.connections}",
        f"-d{args.seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{args.port}{PATH}",
    ]
    with Cpu(cpu_pids) as cpu:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        output = proc.stdout.read() if proc.stdout else ""
        _, _, usage = os.wait4(proc.pid, 0)
    line = next(x for x in output.splitlines() if x.startswith("WRK-JSON "))
    data = json.loads(line.removeprefix("WRK-JSON "))
    statuses = Counter({code: count for code, count in data["statuses"]})
    accepted = statuses.get("202", 0)
    seconds = data["duration_us"] / 1e6
    in_db = stored("s")
    errors = sum(data["errors"].values())
    return {
        "command": " ".join(command[:-1]) + " URL",
        "answered": f"{sum(statuses.values())} ({dict(statuses)}), socket errors {errors}",
        "accepted/s": f"{accepted / seconds:.0f}",
        "latency": f"p50 {data['p50_us'] / 1000:.1f} ms, p99 {data['p99_us'] / 1000:.1f} ms, "
        f"max {data['max_us'] / 1000:.0f} ms",
        "not 202": sum(statuses.values()) - accepted,
        "stored": f"{sum(in_db.values())} {in_db}; lost (202 not stored): "
        f"{max(0, accepted - sum(in_db.values()))}",
        "cpu s": f"wrk {usage.ru_utime + usage.ru_stime:.1f}, "
        + ", ".join(f"{k} {v:.1f}" for k, v in cpu.used.items())
        + f" (of {seconds:.0f} s wall)",
    }


def run_burst(args: argparse.Namespace, cpu_pids: list[int]) -> dict[str, Any]:
    bodies = [alert(f"b-{i}") for i in range(args.burst)]
    with Cpu(cpu_pids) as cpu:
        t0 = time.process_time()
        answers = asyncio.run(_burst(args.port, bodies, 30))
        client_cpu = time.process_time() - t0
    statuses = Counter(status for status, _ in answers)
    latencies = [latency for _, latency in answers]
    in_db = stored("b")
    accepted = statuses.get(202, 0)
    return {
        "answered": f"{len(answers)} {dict(statuses)}",
        "latency": f"p50 {percentile(latencies, 50) * 1000:.0f} ms, "
        f"p99 {percentile(latencies, 99) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms; "
        f"over 3 s: {sum(1 for x in latencies if x > 3)}",
        "stored": f"{sum(in_db.values())} {in_db}; lost: 202 not stored "
        f"{max(0, accepted - sum(in_db.values()))}, sent but not stored "
        f"{args.burst - sum(in_db.values())}",
        "cpu s": f"client {client_cpu:.1f}, "
        + ", ".join(f"{k} {v:.1f}" for k, v in cpu.used.items()),
    }


def acted_on(prefix: str, timeout: float) -> dict[str, Any]:
    """Wait until every accepted signal of the phase is decided; the latencies."""
    import psycopg

    deadline = time.time() + timeout
    with psycopg.connect(DSN, autocommit=True) as db:
        while time.time() < deadline:
            waiting = db.execute(
                "SELECT count(*) FROM trading_signal WHERE alert_id LIKE %s AND outcome IN "
                "('accepted', 'received')",
                (prefix + "-%",),
            ).fetchone()
            if waiting and waiting[0] == 0:
                break
            time.sleep(1)
        rows = db.execute(
            "SELECT s.outcome, extract(epoch FROM s.processed_at - s.received_at), "
            "extract(epoch FROM o.created_at - s.received_at) FROM trading_signal s "
            "LEFT JOIN orders_order o ON o.id = s.order_id WHERE s.alert_id LIKE %s",
            (prefix + "-%",),
        ).fetchall()
    decided = [float(r[1]) for r in rows if r[1] is not None]
    placed = [float(r[2]) for r in rows if r[2] is not None]
    outcomes = Counter(r[0] for r in rows)
    return {
        "outcomes": dict(outcomes),
        "decided after": f"p50 {percentile(decided, 50):.2f} s, p99 "
        f"{percentile(decided, 99):.2f} s, max {max(decided, default=float('nan')):.2f} s; "
        f"over 2 s: {sum(1 for x in decided if x > 2)} of {len(rows)}",
        "order placed after": f"p50 {percentile(placed, 50):.2f} s, max "
        f"{max(placed, default=float('nan')):.2f} s ({len(placed)} orders)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="sustained phase length")
    parser.add_argument("--connections", type=int, default=16, help="wrk's connections")
    parser.add_argument("--burst", type=int, default=1000, help="alerts sent at once")
    parser.add_argument("--web", type=int, default=2, help="web processes (one per core)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--worker", action="store_true", help="run a worker and beat too")
    parser.add_argument("--paced", type=float, default=10.0, help="alerts/s, with --worker")
    parser.add_argument("--replay-speed", type=float, default=360.0, help="with --worker")
    parser.add_argument("--skip", default="", help="phases to skip: sustained,burst,paced")
    parser.add_argument(
        "--profile-web",
        action="store_true",
        help="run the first web process under cProfile (its main thread: the server, the "
        "event loop) into $TMPDIR/bench-webhook-web-0.prof",
    )
    parser.add_argument(
        "--app",
        default="tradingplatform.asgi:application",
        help="the ASGI application (tradingplatform.asgi:router: without the fast lane)",
    )
    parser.add_argument(
        "--db",
        default=DB_NAME,
        help="the PostgreSQL database (dropped and created; another name runs beside a "
        "benchmark already running)",
    )
    parser.add_argument("--redis-db", type=int, default=13, help="the Redis database (flushed)")
    args = parser.parse_args()
    configure(args)
    skip = set(args.skip.split(","))
    env = environment(args)
    prepare(env)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(4096)
    listener.set_inheritable(True)
    logs = Path(tempfile.gettempdir())
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str, command: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            command,
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=open(logs / f"bench-webhook-{TAG}{name}.log", "w"),  # noqa: SIM115
            **kwargs,
        )
        procs.append(proc)
        return proc

    web = [
        start(
            f"web-{i}",
            [
                PYTHON,
                *(
                    ["-m", "cProfile", "-o", str(logs / "bench-webhook-web-0.prof")]
                    if args.profile_web and i == 0
                    else []
                ),
                "-m",
                "apps.core.daphne_server",
                "--fd",
                str(listener.fileno()),
                args.app,
            ],
            pass_fds=(listener.fileno(),),
        )
        for i in range(args.web)
    ]
    pids = [p.pid for p in web]
    if args.worker:
        # INFO: the log names every signal task run and retry (counted at the end)
        worker = start("worker", [str(BIN / "celery"), "-A", "tradingplatform", "worker",
                                  "-P", "threads", "-c", "4", "-l", "INFO", "--without-gossip",
                                  "--without-mingle", "--without-heartbeat"])  # fmt: skip
        start("beat", [str(BIN / "celery"), "-A", "tradingplatform", "beat", "-S", "django",
                       "-l", "WARNING"])  # fmt: skip
    try:
        wait_healthy(args.port)
        for i in range(20 * args.web):  # warm every process: imports, pool, first queries
            urllib.request.urlopen(
                urllib.request.Request(
                    f"http://127.0.0.1:{args.port}{PATH}", data=alert(f"w-{i}"), method="POST"
                ),
                timeout=10,
            )
        print(
            f"webhook benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {args.web} web "
            f"process(es) ({args.app}), worker: {'yes' if args.worker else 'no'}; load average "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} at start"
        )
        with tempfile.TemporaryDirectory() as tmp:
            if "sustained" not in skip:
                phase_line(
                    f"sustained (wrk, {args.connections} connections, {args.seconds} s)",
                    run_wrk(args, pids, Path(tmp)),
                )
        if "burst" not in skip:
            time.sleep(2)
            phase_line(f"burst of {args.burst} at once", run_burst(args, pids))
        if args.worker and "paced" not in skip:
            worker_cpu = cpu_seconds(worker.pid)
            with Cpu(pids):
                answers = asyncio.run(_paced(args.port, "p", args.paced, args.seconds))
            latencies = [x for _, x in answers]
            decided = acted_on("p", 120)
            worker_cpu = cpu_seconds(worker.pid) - worker_cpu
            phase_line(
                f"paced {args.paced:g}/s for {args.seconds} s, candle cycles going on",
                {
                    "answered": dict(Counter(s for s, _ in answers)),
                    "latency": f"p50 {percentile(latencies, 50) * 1000:.0f} ms, p99 "
                    f"{percentile(latencies, 99) * 1000:.0f} ms",
                    **decided,
                    "worker cpu s": f"{worker_cpu:.1f} (the paced phase until every signal "
                    "was decided; candle cycles included)",
                },
            )
        if args.worker:
            phase_line(
                "signal tasks (worker log)", signal_tasks(logs / f"bench-webhook-{TAG}worker.log")
            )
            for prefix, name in (("b", "burst"), ("s", "sustained")):
                if name not in skip:
                    phase_line(f"acted on: {name}", acted_on(prefix, 60))
        print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        listener.close()


if __name__ == "__main__":
    main()
