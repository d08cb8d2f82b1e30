"""Chaos campaign: the platform as deployed, under every fault we can cause; prints the checks.

    python benchmarks/chaos.py                       # the full campaign (about 1,000+ orders)
    python benchmarks/chaos.py --alerts 60 --kills 2 # a small one (make test runs one like it)

Everything runs on loopback and ends by itself. The campaign starts its own servers, so that
restarting them harms nothing else: a PostgreSQL cluster (initdb in a temporary folder, its own
port), a Redis server (no persistence: a restart loses the broker's queues and every lease),
the fake Binance server (``manage.py fakebinance``), and the platform's processes with the
production settings: daphne (web), a Celery worker and Celery beat. The demo's paper bots trade
the replayed market (``load_demo --running``); a live signal bot on the fake Binance account
takes TradingView alerts over HTTP while the fake's market moves under it.

Faults, at random points: every fault the fake has (5xx before processing, 503 after placing,
requests held for seconds, -1021, partial fills, websocket drops), ``kill -9`` of the worker
(also while an order is held in flight on the fake: placed on the venue, never committed),
Redis and PostgreSQL restarts, and all database connections cut (``pg_terminate_backend``).

Afterwards (faults off, the processes up again, every signal decided, beat and worker stopped,
one ``reconcile``), the checks, each printed with its figure:
  - no order or fill lost or duplicated: every venue order of the bot is in the records, every
    record that reached the venue is there, one order per client id, one fill per venue trade;
  - records = venue: positions (summed over the account's bots) and open orders, regular and
    algo; the paper bots' records equal their simulated exchanges;
  - no exit order outlives its trade; no cycle left running, no signal left undecided;
  - the kill switch, with a dead worker's lease on the bot and a position the records never
    saw, leaves the venue flat (its time is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
BIN = Path(PYTHON).parent
API_KEY, API_SECRET = "chaos-key", "chaos-secret"
LIVE_BOT = "chaos-live"
LIVE_SYMBOLS = ("BTCUSDT", "ETHUSDT")
PAPER_BOT, PAPER_SYMBOLS = "demo-signal", ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT")
# The fake holds a request at most 4 s: an order not on the venue 15 s after it was recorded
# was never placed (production waits 120 s).
MISSING_GRACE_S = 15


@dataclass
class CampaignConfig:
    alerts: int = 900  # webhook alerts to the live bot
    kills: int = 8  # kill -9 of the worker (half of them while an order is held in flight)
    redis_restarts: int = 2
    postgres_restarts: int = 2
    socket_drops: int = 3  # every database connection cut
    # share of alerts preceded by a fault of the fake; a failed write costs the bot up to 10 s
    # (the adapter looks the order up before it sends it again), so more makes signals stale
    fault_rate: float = 0.15
    seed: int = 7
    # the replayed market, x wall clock (the live bot's 1h cycles too: faster, they use up the
    # account's request weight, 2,400 a minute, that its signals need)
    speed: float = 300.0
    # seconds between alerts: one account's request weight serves about one signal a second
    # with its venue reads; faster, the signals queue behind the rate limiter and grow stale
    pause: float = 1.0
    # share of alerts also sent to the demo's paper signal bot (demo-signal): the paper path
    # under the same faults, and more orders than one live account's request weight allows
    paper_alerts: float = 1.0
    settle_s: float = 150.0  # how long the platform may take to decide everything at the end
    verbose: bool = False
    keep: bool = False  # keep the servers' folder and the processes' logs (printed)


@dataclass
class CampaignResult:
    figures: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s")


# --- servers ------------------------------------------------------------------------------------
class Postgres:
    """A throw-away PostgreSQL cluster on its own port (run as the postgres user when root)."""

    def __init__(self, base: Path) -> None:
        self.dir = base / "pg"
        self.port = free_port()
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        self.bin = bins[-1] if bins else Path(shutil.which("pg_ctl") or "pg_ctl").parent
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str, check: bool = True) -> None:
        subprocess.run(
            [*self.as_user, *args], check=check, capture_output=True, text=True, timeout=120
        )

    def start(self) -> None:
        if not self.dir.exists():
            self.dir.mkdir(parents=True)
            if self.as_user:
                shutil.chown(self.dir, "postgres", "postgres")
                shutil.chown(self.dir.parent, "postgres", "postgres")
            self._run(
                str(self.bin / "initdb"), "-D", str(self.dir), "-A", "trust", "-U", "postgres",
                "--no-sync", "-E", "UTF8",
            )  # fmt: skip
        opts = (
            # fsync off: the campaign crashes PostgreSQL, never the machine, so a committed
            # transaction (in the operating system's cache) survives, as with fsync on
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=200"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.dir), "-o", opts,
            "-l", str(self.dir / "log"), "-w", "-t", "60", "start",
        )  # fmt: skip

    def restart(self) -> None:
        """A crash and a start: every connection is cut, uncommitted work is lost."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir), "-m", "immediate", "stop")
        self.start()

    def stop(self) -> None:
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.dir), "-m", "immediate", "stop", check=False
        )

    def url(self, db: str = "chaos") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def sql(self, statement: str, db: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(db), autocommit=True) as conn:
            conn.execute(statement)


class Redis:
    def __init__(self, base: Path) -> None:
        self.port = free_port()
        self.dir = base / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for("redis", self.ping, 20)

    def ping(self) -> bool:
        import redis

        return bool(redis.Redis(port=self.port, socket_timeout=1).ping())

    def restart(self) -> None:
        """kill -9 and start: the queues, the cache and every lease are gone."""
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


# --- the platform's processes ---------------------------------------------------------------------
class Processes:
    def __init__(self, env: dict[str, str], logs: Path, verbose: bool) -> None:
        self.env, self.logs, self.verbose = env, logs, verbose
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.commands: dict[str, list[str]] = {}
        self.envs: dict[str, dict[str, str]] = {}

    def start(
        self, name: str, command: list[str] | None = None, env: dict[str, str] | None = None
    ) -> None:
        command = command or self.commands[name]
        self.commands[name] = command
        self.envs[name] = env = env or self.envs.get(name) or self.env
        out = None if self.verbose else (self.logs / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.kill(name, signal.SIGTERM)


def manage(env: dict[str, str], *args: str, timeout: float = 600) -> str:
    done = subprocess.run(
        [PYTHON, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def shell_json(env: dict[str, str], code: str, timeout: float = 300) -> Any:
    """Run ``code`` in ``manage.py shell`` (Django set up with the campaign's settings); it
    prints one line ``RESULT <json>``."""
    out = manage(env, "shell", "-c", code, timeout=timeout)
    for line in reversed(out.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"no result from the shell script:\n{out}")


# --- the campaign -------------------------------------------------------------------------------
SETUP = """
from apps.bots.models import Bot
from apps.exchange.models import ExchangeAccount
from apps.risk.models import RiskSettings
from apps.strategies.models import Strategy
account = ExchangeAccount.objects.create(
    name="chaos-fake", environment="testnet", base_url={base_url!r},
    api_key={key!r}, api_secret={secret!r},
)
strategy = Strategy.objects.create(
    name="chaos-signals", kind="signal", mode="SWING", timeframe="1h", parameters={{}}
)
bot = Bot.objects.create(
    name={name!r}, account=account, strategy=strategy, symbols={symbols!r}, leverage=3,
    trading_mode="live", state="running", trailing="none",
)
RiskSettings.objects.create(bot=bot, max_open_positions=4, correlation_threshold=1)
import json; print("RESULT " + json.dumps(bot.pk))
"""

QUIET = """
import json
from apps.trading.models import Signal
print("RESULT " + json.dumps(Signal.objects.filter(outcome="accepted").count()))
"""


class Campaign:
    def __init__(self, config: CampaignConfig) -> None:
        self.cfg = config
        self.rng = random.Random(config.seed)
        self.paper_rng = random.Random(config.seed + 1)  # the live alerts stay as they were
        self.base = Path(tempfile.mkdtemp(prefix="chaos-"))
        self.logs = self.base / "logs"
        self.logs.mkdir()
        self.pg = Postgres(self.base)
        self.redis = Redis(self.base)
        self.fake_port, self.web_port = free_port(), free_port()
        self.faults: Counter[str] = Counter()
        self.answers: Counter[str] = Counter()
        self.secret = secrets.token_urlsafe(24)
        self.env: dict[str, str] = {}
        self.procs: Processes | None = None
        self.bot_id = 0

    # -- set-up --------------------------------------------------------------------------------
    def environment(self) -> dict[str, str]:
        from cryptography.fernet import Fernet

        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE"))}
        env.update(
            DJANGO_SETTINGS_MODULE="tradingplatform.settings.prod",
            TRADINGPLATFORM_ENV_FILE="",  # a local .env must not leak into the campaign
            DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            DJANGO_SECURE_SSL_REDIRECT="0",
            DATABASE_URL=self.pg.url(),
            DATABASE_POOL_MAX_SIZE="4",
            REDIS_URL=self.redis.url,
            FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
            WEBHOOK_SECRET=self.secret,
            WEBHOOK_THROTTLE_RATE="1000000/minute",
            MARKET_REPLAY_START="2025-09-01T00:00:00+00:00",
            MARKET_REPLAY_SPEED=str(self.cfg.speed),
            CELERY_VISIBILITY_TIMEOUT_S="60",
            ORDER_MISSING_GRACE_S=str(MISSING_GRACE_S),
            LOG_LEVEL="INFO" if self.cfg.verbose else "WARNING",
            PYTHONUNBUFFERED="1",
        )
        return env

    def start(self) -> None:
        self.pg.start()
        self.pg.sql("CREATE DATABASE chaos")
        self.redis.start()
        self.env = self.environment()
        self.procs = Processes(self.env, self.logs, self.cfg.verbose)
        manage(self.env, "migrate", "-v", "0")
        manage(self.env, "load_demo", "--running", "--data-from", "2025-09-01")
        manage(self.env, "setup_periodic_tasks", "-v", "0")
        fake_url = f"http://127.0.0.1:{self.fake_port}"
        self.bot_id = shell_json(
            self.env,
            SETUP.format(
                base_url=fake_url,
                key=API_KEY,
                secret=API_SECRET,
                name=LIVE_BOT,
                symbols=list(LIVE_SYMBOLS),
            ),
        )
        manage_py = [PYTHON, str(ROOT / "manage.py")]
        self.procs.start(
            "fake",
            [*manage_py, "fakebinance", "--port", str(self.fake_port), "--api-key", API_KEY,
             "--api-secret", API_SECRET, "--seed", str(self.cfg.seed)],
            # the fake is test support: installed by the dev settings, not by production's
            env={**self.env, "DJANGO_SETTINGS_MODULE": "tradingplatform.settings.dev"},
        )  # fmt: skip
        wait_for("fake Binance", lambda: self.fake_get("/_fake/state"))
        self.procs.start(
            "web",
            [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(self.web_port),
             "tradingplatform.asgi:application"],
        )  # fmt: skip
        wait_for("daphne", lambda: self.http("GET", f"{self.web}/health/") is not None)
        self.start_worker()
        self.procs.start(
            "beat", [str(BIN / "celery"), "-A", "tradingplatform", "beat", "-S", "django",
                     "-l", "WARNING"],
        )  # fmt: skip

    def start_worker(self) -> None:
        assert self.procs is not None
        self.procs.start(
            "worker",
            [str(BIN / "celery"), "-A", "tradingplatform", "worker", "-P", "threads", "-c", "4",
             "-l", "WARNING", "-n", "chaos@localhost", "--without-gossip", "--without-mingle",
             "--without-heartbeat"],
        )  # fmt: skip

    @property
    def web(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def fake(self) -> str:
        return f"http://127.0.0.1:{self.fake_port}"

    # -- HTTP ----------------------------------------------------------------------------------
    def http(self, method: str, url: str, body: Any = None, timeout: float = 10) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            url, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, None
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def fake_get(self, path: str) -> Any:
        answer = self.http("GET", self.fake + path, timeout=30)
        return answer[1] if answer else None

    def fake_post(self, path: str, body: dict[str, Any]) -> Any:
        return self.http("POST", self.fake + path, body)

    # -- what happens ----------------------------------------------------------------------------
    def alert(self, n: int) -> None:
        symbol = self.rng.choice(LIVE_SYMBOLS)
        action = self.rng.choices(["buy", "sell", "close"], weights=[4, 3, 3])[0]
        body = {
            "passphrase": self.secret,
            "bot": LIVE_BOT,
            "symbol": f"BINANCE:{symbol}.P",
            "action": action,
            "order_type": "market",
            "quote_amount": str(self.rng.randrange(60, 300)),
            "alert_id": f"chaos-{self.cfg.seed}-{n}",
            "time": datetime.now(tz=UTC).isoformat(),
        }
        answer = self.http("POST", f"{self.web}/api/webhook/tradingview/", body)
        self.answers[str(answer[0]) if answer else "no answer"] += 1
        if self.paper_rng.random() < self.cfg.paper_alerts:
            body |= {
                "bot": PAPER_BOT,
                "symbol": f"BINANCE:{self.paper_rng.choice(PAPER_SYMBOLS)}.P",
                "alert_id": f"chaos-{self.cfg.seed}-{n}-paper",
                "time": datetime.now(tz=UTC).isoformat(),
            }
            answer = self.http("POST", f"{self.web}/api/webhook/tradingview/", body)
            self.answers[f"paper {answer[0]}" if answer else "paper: no answer"] += 1

    def move_market(self) -> None:
        state = self.fake_get("/_fake/state")
        if not state:
            return
        symbol = self.rng.choice(LIVE_SYMBOLS)
        price = float(state["prices"][symbol])
        jump = self.rng.choice([0.002, 0.004, 0.008, 0.025])  # sometimes through a stop / target
        moved = price * (1 + self.rng.choice([-1, 1]) * jump)
        self.fake_post("/_fake/price", {"symbol": symbol, "price": f"{moved:.2f}"})

    def fake_fault(self) -> None:
        kind = self.rng.choice(
            ["fail", "fail", "unknown", "delay", "timestamp", "partial", "drop", "algo-fail"]
        )
        path = self.rng.choice(["/fapi/v1/order", "/fapi/v1/algoOrder"])
        if kind == "fail":
            status = self.rng.choice([500, 502, 503, 504])
            self.fake_post("/_fake/fault", {"kind": "fail", "path": path, "status": status})
        elif kind == "algo-fail":
            self.fake_post("/_fake/fault", {"kind": "fail", "path": "/fapi/v1/algoOrder"})
        elif kind == "unknown":
            self.fake_post("/_fake/fault", {"kind": "unknown", "path": path})
        elif kind == "delay":
            seconds = self.rng.choice([1, 2, 4])
            self.fake_post("/_fake/fault", {"kind": "delay", "path": path, "seconds": seconds})
        elif kind == "timestamp":
            self.fake_post("/_fake/fault", {"kind": "timestamp", "path": path})
        elif kind == "partial":
            self.fake_post("/_fake/fault", {"kind": "partial", "fraction": "0.4"})
        else:
            self.fake_post("/_fake/fault", {"kind": "drop"})
        self.faults[f"fake {kind}"] += 1

    def kill_worker(self, n: int, *, in_flight: bool) -> None:
        """kill -9 of the worker; ``in_flight``: while an order is held on the fake, so it is
        placed on the venue after its sender died (between place and commit)."""
        assert self.procs is not None
        if in_flight:
            path = self.rng.choice(["/fapi/v1/order", "/fapi/v1/algoOrder"])
            self.fake_post("/_fake/fault", {"kind": "delay", "path": path, "seconds": 4})
            self.alert(n)
            time.sleep(self.rng.uniform(0.3, 2.5))
        else:
            time.sleep(self.rng.uniform(0.0, 1.0))
        self.procs.kill("worker")
        self.faults["kill -9 worker (order in flight)" if in_flight else "kill -9 worker"] += 1
        time.sleep(self.rng.uniform(0.5, 2.0))
        self.start_worker()

    def restart_redis(self) -> None:
        self.redis.restart()
        self.faults["redis restart"] += 1

    def restart_postgres(self) -> None:
        self.pg.restart()
        self.faults["postgres restart"] += 1

    def drop_sockets(self) -> None:
        self.pg.sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = 'chaos' AND pid <> pg_backend_pid()"
        )
        self.faults["database connections cut"] += 1

    def keep_up(self) -> None:
        """A process that died of a fault (not one we killed) is started again, and counted."""
        assert self.procs is not None
        for name in ("web", "worker", "beat", "fake"):
            if not self.procs.alive(name):
                self.faults[f"{name} exited by itself"] += 1
                self.procs.start(name)

    def drive(self) -> None:
        cfg = self.cfg
        n = cfg.alerts
        events: list[tuple[int, str]] = []
        for i in range(cfg.kills):
            events.append((self.rng.randrange(5, n), "kill-flight" if i % 2 == 0 else "kill"))
        events += [(self.rng.randrange(5, n), "redis") for _ in range(cfg.redis_restarts)]
        events += [(self.rng.randrange(5, n), "postgres") for _ in range(cfg.postgres_restarts)]
        events += [(self.rng.randrange(5, n), "sockets") for _ in range(cfg.socket_drops)]
        at = sorted(events)
        for i in range(n):
            while at and at[0][0] == i:
                _, what = at.pop(0)
                self.log(f"alert {i}: {what}")
                if what.startswith("kill"):
                    self.kill_worker(i + 100_000, in_flight=what == "kill-flight")
                elif what == "redis":
                    self.restart_redis()
                elif what == "postgres":
                    self.restart_postgres()
                else:
                    self.drop_sockets()
            if self.rng.random() < cfg.fault_rate:
                self.fake_fault()
            self.alert(i)
            if self.rng.random() < 0.5:
                self.move_market()
            time.sleep(cfg.pause)
            self.keep_up()

    def log(self, text: str) -> None:
        if self.cfg.verbose:
            print(f"[chaos] {text}", flush=True)

    # -- the end: settle, reconcile, check, kill switch drill ----------------------------------
    def settle(self) -> float:
        """Faults off, processes up, until every signal is decided; return the seconds taken."""
        self.fake_post("/_fake/fault", {"kind": "clear"})
        self.keep_up()
        started = time.monotonic()
        deadline = started + self.cfg.settle_s
        while time.monotonic() < deadline:
            try:
                if shell_json(self.env, QUIET) == 0:
                    break
            except RuntimeError:
                pass
            time.sleep(2)
        return time.monotonic() - started

    def finish(self) -> CampaignResult:
        assert self.procs is not None
        result = CampaignResult()
        settle_s = self.settle()
        time.sleep(MISSING_GRACE_S + 2)  # a request still held by the fake has landed by now
        self.procs.kill("beat", signal.SIGTERM)
        self.procs.kill("worker", signal.SIGTERM)  # warm shutdown: running tasks finish
        reconcile = shell_json(self.env, RECONCILE.format(name=LIVE_BOT))
        checks = shell_json(self.env, CHECKS.format(name=LIVE_BOT, fake=self.fake))
        drill = shell_json(self.env, DRILL.format(name=LIVE_BOT, fake=self.fake))
        result.faults = dict(self.faults)
        result.figures = {
            "alerts": self.cfg.alerts,
            "webhook answers": dict(self.answers),
            "settle seconds": round(settle_s, 1),
            "reconcile": reconcile,
            **checks.pop("figures"),
            "kill switch seconds (stale lease, unrecorded position)": drill["seconds"],
        }
        result.checks = {**checks, "kill switch left (orders, positions)": drill["left"]}
        result.failures = [
            f"{name}: {value}"
            for name, value in result.checks.items()
            if value not in (0, [], {}, [0, 0])
        ]
        return result

    def stop(self) -> None:
        if self.procs is not None:
            self.procs.stop_all()
        self.redis.stop()
        self.pg.stop()
        if self.cfg.keep:
            print(f"kept: {self.base} (logs in {self.logs})")
        else:
            shutil.rmtree(self.base, ignore_errors=True)


RECONCILE = """
import json
from django.utils import timezone
from apps.bots.models import Bot
from apps.trading.engine.reconcile import reconcile_bot_now
from apps.market.clock import market_now
from apps.trading.engine import bot_catch_up
from apps.trading.engine.sweep import cycles_sweep
bot = Bot.objects.get(name={name!r})
report = reconcile_bot_now(bot=bot, at=timezone.now(), wait=30)
for running in Bot.objects.filter(state="running"):  # a last tick: a cycle due again is run
    bot_catch_up(bot_id=running.pk, now=market_now(), limit=50)
cycles_sweep(wall=timezone.now())
print("RESULT " + json.dumps({{"adopted": report.orders_adopted, "fills": report.fills_applied,
    "updated": report.orders_updated, "stops": report.stops_replaced, "halted": report.halted}}))
"""

CHECKS = """
import json, urllib.request
from collections import Counter
from decimal import Decimal
from django.db.models import Sum
from django.utils import timezone
from apps.bots.models import Bot
from apps.orders.domain.accounting import EXIT_PURPOSES, bot_client_id_prefix
from apps.orders.models import Fill, Order
from apps.trading.models import BotCycle, Position, Signal, Trade
from apps.trading.paper import paper_session_load
from asgiref.sync import async_to_sync

OPEN = ["PENDING_NEW", "NEW", "TRIGGERED", "PARTIALLY_FILLED", "PENDING_CANCEL"]
dump = json.loads(urllib.request.urlopen({fake!r} + "/_fake/dump", timeout=60).read())
bot = Bot.objects.get(name={name!r})
prefix = bot_client_id_prefix(bot.pk)
mine = lambda cid: cid.startswith(prefix)
regular = [o for o in dump["orders"] if mine(o["clientOrderId"])]
algos = [a for a in dump["algos"] if mine(a["clientAlgoId"])]
algo_ids = {{a["clientAlgoId"] for a in algos}}
venue_ids = {{o["clientOrderId"] for o in regular}} | algo_ids
orders = Order.objects.filter(bot=bot)
db_ids = set(orders.values_list("client_order_id", flat=True))
sent = set(
    orders.exclude(exchange_order_id="", algo_id="").values_list("client_order_id", flat=True)
)
# a triggered algo order becomes one regular order with the same client id: not a duplicate
regular_count = Counter(o["clientOrderId"] for o in regular)
dup_orders = sorted(c for c, n in regular_count.items() if n > 1)
dup_orders += sorted(c for c, n in Counter(a["clientAlgoId"] for a in algos).items() if n > 1)
order_ids = {{o["orderId"] for o in regular}}
venue_trades = {{str(t["id"]) for t in dump["trades"] if t["orderId"] in order_ids}}
fills = Fill.objects.filter(order__bot=bot)
db_trades = Counter(fills.values_list("exchange_trade_id", flat=True))
venue_open = {{o["clientOrderId"] for o in regular if o["status"] in ("NEW", "PARTIALLY_FILLED")}}
venue_open |= {{a["clientAlgoId"] for a in algos if a["algoStatus"] in ("NEW", "TRIGGERING")}}
db_open = set(orders.filter(status__in=OPEN).values_list("client_order_id", flat=True))
positions = {{}}
for p in dump["positions"]:
    positions[p["symbol"]] = positions.get(p["symbol"], Decimal(0)) + Decimal(p["positionAmt"])
position_gaps = {{}}
for symbol in set(positions) | set(bot.symbols):
    ours = Position.objects.filter(bot__account=bot.account, symbol=symbol).aggregate(
        q=Sum("quantity"))["q"] or Decimal(0)
    if ours != positions.get(symbol, Decimal(0)):
        position_gaps[symbol] = [str(ours), str(positions.get(symbol, Decimal(0)))]

def orphans(b):
    count = 0
    for o in Order.objects.filter(bot=b, status__in=OPEN, purpose__in=EXIT_PURPOSES):
        open_trade = Trade.objects.filter(bot=b, symbol=o.symbol, status="OPEN").first()
        flat = not Position.objects.filter(bot=b, symbol=o.symbol).exclude(quantity=0).exists()
        if (o.trade_id is None and flat) or (o.trade_id is not None and (
                open_trade is None or open_trade.pk != o.trade_id)):
            count += 1
    return count

paper = {{}}
paper_orders = paper_fills = 0
for b in Bot.objects.filter(trading_mode="paper"):
    if not hasattr(b, "paper_exchange"):
        continue
    session = paper_session_load(bot=b, now=timezone.now())
    ex = session.exchange
    sim_open = {{r.client_order_id for r in async_to_sync(ex.open_orders)()}}
    rec_open = set(Order.objects.filter(bot=b, status__in=OPEN).values_list(
        "client_order_id", flat=True))
    sim_pos = {{p.symbol: p.quantity for p in async_to_sync(ex.positions)()}}
    rec_pos = {{p.symbol: p.quantity for p in Position.objects.filter(bot=b).exclude(quantity=0)}}
    paper_orders += Order.objects.filter(bot=b).count()
    paper_fills += Fill.objects.filter(order__bot=b).count()
    paper[b.name] = {{
        "open orders differ": sorted(sim_open ^ rec_open),
        "positions differ": sorted(s for s in set(sim_pos) | set(rec_pos)
                                   if sim_pos.get(s, 0) != rec_pos.get(s, 0)),
        "exit orders of ended trades": orphans(b),
    }}
paper_gaps = {{k: v for k, v in paper.items() if any(v.values())}}
def latency(rows):
    waits = sorted((s.processed_at - s.received_at).total_seconds() for s in rows.filter(
        source="webhook", processed_at__isnull=False).exclude(outcome="expired"))
    pick = lambda q: round(waits[min(len(waits) - 1, int(q * len(waits)))], 2) if waits else None
    return [pick(0.5), pick(0.95), pick(1.0)]
print("RESULT " + json.dumps({{
    "figures": {{
        "live orders recorded": orders.count(),
        "live orders on the venue": len(venue_ids),
        "live fills": fills.count(),
        "live trades closed": Trade.objects.filter(bot=bot, status="CLOSED").count(),
        "paper orders": paper_orders,
        "paper fills": paper_fills,
        "orders in all": orders.count() + paper_orders,
        "signals by outcome": dict(Counter(Signal.objects.values_list("outcome", flat=True))),
        "signals not placed, by reason": dict(Counter(
            d[:60] for d in Signal.objects.filter(source="webhook").exclude(
                outcome="placed").values_list("detail", flat=True)).most_common(8)),
        "live signal decided after (s): p50, p95, max": latency(Signal.objects.filter(bot=bot)),
        "paper signal decided after (s): p50, p95, max": latency(
            Signal.objects.exclude(bot=bot)),
        "live bot state": bot.state + (": " + bot.state_reason if bot.state_reason else ""),
        "cycles": BotCycle.objects.count(),
    }},
    "orders lost (on the venue, not recorded)": sorted(venue_ids - db_ids),
    "orders recorded as sent but not on the venue": sorted(sent - venue_ids),
    "orders duplicated on the venue": dup_orders,
    "fills lost": sorted(venue_trades - set(db_trades)),
    "fills not on the venue": sorted(set(db_trades) - venue_trades),
    "fills duplicated": sorted(t for t, n in db_trades.items() if n > 1),
    "positions: records vs venue": position_gaps,
    "open orders: records vs venue": sorted(
        c + (" (records: " + orders.get(client_order_id=c).status + ")" if c in db_open else "")
        for c in venue_open ^ db_open),
    "live exit orders of ended trades": orphans(bot),
    "paper records vs simulated exchange": paper_gaps,
    "cycles left running": [
        f"{{c.bot.name}} ({{c.bot.state}}) {{c.symbol}} {{c.candle_open_time}}: {{c.detail[:80]}}"
        for c in BotCycle.objects.filter(status="running").select_related("bot")],
    "signals left undecided": Signal.objects.filter(outcome="accepted").count(),
}}))
"""

DRILL = """
import json, time, urllib.request
from decimal import Decimal
from asgiref.sync import async_to_sync
from django.core.cache import cache
from django.utils import timezone
from apps.bots.models import Bot
from apps.exchange.domain.types import OrderRequest, OrderType, Side
from apps.exchange.live import open_exchange
from apps.orders.domain.accounting import bot_client_order_id
from apps.trading.engine import killswitch_engage
bot = Bot.objects.select_related("account").get(name={name!r})

async def enter():  # an entry that reached the venue but was never recorded
    async with open_exchange(bot) as ex:
        await ex.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET,
            quantity=Decimal("0.004"),
            client_order_id=bot_client_order_id(bot.pk, "BTCUSDT", "drill", time.time())))

async_to_sync(enter)()
cache.set(f"bot-lock:{{bot.pk}}", "dead-worker:1:1:x", timeout=15)  # a dead worker's lease
started = time.monotonic()
[report] = killswitch_engage(reason="chaos drill", now=timezone.now(), bot_names=[bot.name])
seconds = time.monotonic() - started
dump = json.loads(urllib.request.urlopen({fake!r} + "/_fake/dump", timeout=60).read())
held = [p for p in dump["positions"] if Decimal(p["positionAmt"]) != 0]
open_algos = [a for a in dump["algos"] if a["algoStatus"] in ("NEW", "TRIGGERING")]
open_orders = [o for o in dump["orders"] if o["status"] in ("NEW", "PARTIALLY_FILLED")]
print("RESULT " + json.dumps({{"seconds": round(seconds, 2),
    "left": [len(open_algos) + len(open_orders), len(held)], "report": report.notes}}))
"""


def run_campaign(config: CampaignConfig) -> CampaignResult:
    campaign = Campaign(config)
    try:
        campaign.start()
        started = time.monotonic()
        campaign.drive()
        driven = time.monotonic() - started
        result = campaign.finish()
        result.figures["drive seconds"] = round(driven, 1)
        return result
    finally:
        campaign.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = CampaignConfig()
    for name, value in asdict(defaults).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            parser.add_argument(flag, action="store_true")
        else:
            parser.add_argument(flag, type=type(value), default=value)
    args = parser.parse_args()
    config = CampaignConfig(**{k: getattr(args, k) for k in asdict(defaults)})
    started = time.monotonic()
    result = run_campaign(config)
    print(f"chaos campaign, seed {config.seed}, {time.monotonic() - started:.0f} s in all")
    print("faults injected:")
    for name, count in sorted(result.faults.items()):
        print(f"  {name}: {count}")
    print("figures:")
    for name, value in result.figures.items():
        print(f"  {name}: {value}")
    print("checks (each must be 0 / empty):")
    for name, value in result.checks.items():
        mark = "ok " if value in (0, [], {}, [0, 0]) else "FAIL"
        print(f"  [{mark}] {name}: {value}")
    if not result.ok:
        raise SystemExit(f"{len(result.failures)} check(s) failed")


if __name__ == "__main__":
    main()
