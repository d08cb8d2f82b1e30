"""Load benchmark of the TradingView webhook on loopback; prints figures, asserts nothing.

    pip install -r benchmarks/requirements.txt       # locust, the load tool (PyPI)
    python benchmarks/bench_webhook.py               # 30 s, 20 users, 1 web process
    python benchmarks/bench_webhook.py --seconds 60 --users 50 --web 2

The platform runs as in production (``tradingplatform.settings.prod``): daphne web process(es)
on PostgreSQL (database ``bench_webhook``, created and migrated here) and Redis (db 13: cache,
throttle counters and the Celery broker). A running signal bot trades BTCUSDT; every request is
a new, valid TradingView alert (own ``alert_id``, current ``time``), so each one is
authenticated, validated, checked for repeats and actionability, stored under the unique
constraint and queued for a worker: the full accepted path. No worker runs, so the figures are
the HTTP side alone (the answer never waits for the exchange). With ``--web 2`` a second daphne
process listens on the next port and locust's users are split between them.
"""

from __future__ import annotations

import argparse
import csv
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
DB_NAME = "bench_webhook"
REDIS_URL = "redis://127.0.0.1:6379/13"
SECRET = secrets.token_urlsafe(24)

LOCUSTFILE = """
import json, uuid
from datetime import datetime, timezone
from locust import FastHttpUser, constant, task

SECRET = {secret!r}

class Alert(FastHttpUser):
    wait_time = constant(0)

    @task
    def signal(self):
        body = {{
            "passphrase": SECRET, "bot": "bench-signal", "symbol": "BTCUSDT.P",
            "action": "buy", "order_type": "market", "quote_amount": "200",
            "alert_id": uuid.uuid4().hex,
            "time": datetime.now(timezone.utc).isoformat(),
        }}
        with self.client.post("/api/webhook/tradingview/", data=json.dumps(body),
                              headers={{"Content-Type": "text/plain"}},
                              catch_response=True) as response:
            if response.status_code != 202:
                response.failure(f"{{response.status_code}} {{response.text[:200]}}")
"""


def environment() -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tradingplatform.settings.prod",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SECURE_SSL_REDIRECT="0",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
        REDIS_URL=REDIS_URL,
        FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        WEBHOOK_SECRET=SECRET,
        WEBHOOK_THROTTLE_RATE="1000000/minute",
        LOG_LEVEL="WARNING",
    )
    return env


def prepare(env: dict[str, str]) -> None:
    import psycopg
    import redis

    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as db:
        db.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
        db.execute(f"CREATE DATABASE {DB_NAME}")
    redis.Redis.from_url(REDIS_URL).flushdb()
    manage = [PYTHON, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True, cwd=ROOT)
    setup = """
from datetime import UTC, datetime
from apps.bots.models import Bot
from apps.core.demo import demo_load
from apps.exchange.models import ExchangeAccount
from apps.strategies.models import Strategy
from apps.trading.replay import ensure_klines
demo_load()
ensure_klines(symbol="BTCUSDT", interval="1h", start=datetime(2025, 9, 28, tzinfo=UTC),
              end=datetime(2025, 10, 1, tzinfo=UTC))
Bot.objects.create(name="bench-signal", account=ExchangeAccount.objects.first(),
                   strategy=Strategy.objects.get(kind="signal"), symbols=["BTCUSDT"],
                   state="running")
"""
    subprocess.run([*manage, "shell", "-c", setup], env=env, check=True, cwd=ROOT)


def wait_healthy(port: int, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"daphne on port {port} did not answer /health/")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--web", type=int, default=1, help="daphne processes")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    locust = shutil.which("locust", path=str(Path(PYTHON).parent)) or shutil.which("locust")
    if locust is None:
        raise SystemExit("locust is not installed: pip install -r benchmarks/requirements.txt")
    env = environment()
    prepare(env)
    daphne = str(Path(PYTHON).parent / "daphne")
    servers = [
        subprocess.Popen(
            [
                daphne,
                "-b",
                "127.0.0.1",
                "-p",
                str(args.port + i),
                "tradingplatform.asgi:application",
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=open(Path(tempfile.gettempdir()) / f"bench-webhook-daphne-{i}.log", "w"),  # noqa: SIM115
        )
        for i in range(args.web)
    ]
    try:
        for i in range(args.web):
            wait_healthy(args.port + i)
        with tempfile.TemporaryDirectory() as tmp:
            locustfile = Path(tmp) / "locustfile.py"
            locustfile.write_text(LOCUSTFILE.format(secret=SECRET))
            runs = []
            per_server = max(1, args.users // args.web)
            for i in range(args.web):
                runs.append(
                    subprocess.Popen(
                        [
                            locust,
                            "-f",
                            str(locustfile),
                            "--headless",
                            "-u",
                            str(per_server),
                            "-r",
                            str(per_server),
                            "-t",
                            f"{args.seconds}s",
                            "-H",
                            f"http://127.0.0.1:{args.port + i}",
                            "--csv",
                            str(Path(tmp) / f"run{i}"),
                            "--only-summary",
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            for run in runs:
                run.wait()
            report(tmp, args)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(10)


def report(tmp: str, args: argparse.Namespace) -> None:
    import psycopg

    total_rps, requests, failures, p50s, p99s = 0.0, 0, 0, [], []
    for i in range(args.web):
        with open(Path(tmp) / f"run{i}_stats.csv") as fh:
            row = next(r for r in csv.DictReader(fh) if r["Name"] == "Aggregated")
        total_rps += float(row["Requests/s"])
        requests += int(row["Request Count"])
        failures += int(row["Failure Count"])
        p50s.append(float(row["50%"]))
        p99s.append(float(row["99%"]))
        with open(Path(tmp) / f"run{i}_failures.csv") as fh:
            for failure in csv.DictReader(fh):
                print(f"  failed x{failure['Occurrences']}: {failure['Error'][:160]}")
    dsn = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
    with psycopg.connect(dsn) as db:
        stored = db.execute(
            "SELECT count(*) FROM trading_signal WHERE outcome = 'accepted'"
        ).fetchone()[0]
    print(
        f"webhook, {args.web} daphne process(es), {args.users} users, {args.seconds} s: "
        f"{total_rps:.0f} accepted signals/s, p50 {max(p50s):.0f} ms, p99 {max(p99s):.0f} ms; "
        f"{requests} requests, {failures} not 202, {stored} signals stored"
    )


if __name__ == "__main__":
    main()
