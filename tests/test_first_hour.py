"""The first hour of a new user, end to end, on the real process (`manage.py runplatform`, the
embedded default: SQLite, in-process worker and beat, no servers): start on a clean database,
log in, post a webhook signal while the signal bot is busy catching up candles and see it
placed, run a backtest and a replay, stop with Ctrl-C, start again and see the demo go on."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Platform:
    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp, self.env = tmp, env
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[str] | None = None
        self.out = ""

    def start(self) -> str:
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "runplatform", "--port", str(self.port)],
            cwd=REPO,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        lines = []
        deadline = time.monotonic() + 180
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError("runplatform exited:\n" + "".join(lines))
            lines.append(line)
            if line.startswith("serving on"):
                break
        self.out = "".join(lines)
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/health/", timeout=2).status_code == 200:
                    return self.out
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise AssertionError("no healthy answer from /health/")

    def stop(self) -> tuple[float, str]:
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGINT)  # Ctrl-C
        rest, _ = self.proc.communicate(timeout=30)
        return time.monotonic() - started, rest


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _db(path: Path, sql: str, *args: object) -> list[tuple]:
    with sqlite3.connect(path, timeout=30) as conn:
        return conn.execute(sql, args).fetchall()


def test_first_hour_start_login_webhook_backtest_replay_restart(tmp_path, shared_data) -> None:
    env_file = tmp_path / ".env"
    subprocess.run([sys.executable, "scripts/make_env.py", str(env_file)], cwd=REPO, check=True)
    secret = re.search(r"^WEBHOOK_SECRET=(.+)$", env_file.read_text(), re.M).group(1)
    db = tmp_path / "db.sqlite3"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        base.pop(name, None)
    env = {
        **base,
        "DJANGO_SETTINGS_MODULE": "tradingplatform.settings.dev",
        "TRADINGPLATFORM_ENV_FILE": str(env_file),  # as `make run` writes it
        "SQLITE_PATH": str(db),
        "STATIC_ROOT": str(tmp_path / "static"),
        "SHARED_DATA_DIR": str(shared_data),
        # A busy demo: an hour of market time every 0.2 s, so the signal bot always has
        # candles to catch up (a signal must not wait behind them).
        "MARKET_REPLAY_SPEED": "18000",
        "PYTHONUNBUFFERED": "1",
    }
    platform = Platform(tmp_path, env)
    try:
        out = platform.start()
        password = re.search(r"Password \(shown once.*\): (\S+)", out).group(1)
        assert f"Webhook passphrase (WEBHOOK_SECRET in .env): {secret}" in out
        assert "market clock: replaying from 2025-09-01 00:00 UTC" in out
        assert "/metrics (bearer METRICS_TOKEN from .env)" in out

        # log in as the new user would, and reach the dashboard
        web = requests.Session()
        login = web.get(f"{platform.url}/admin/login/", timeout=10)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
        answer = web.post(
            f"{platform.url}/admin/login/?next=/",
            data={"username": "admin", "password": password, "csrfmiddlewaretoken": token},
            headers={"Referer": f"{platform.url}/admin/login/"},
            timeout=10,
        )
        assert answer.status_code == 200 and "demo-signal" in answer.text
        docs = web.get(f"{platform.url}/api/docs/", timeout=10).text
        assert "swagger-ui" in docs and "cdn.jsdelivr" not in docs  # served offline

        # the README's webhook, while the bots (the signal bot too) catch up their candles
        deadline = time.monotonic() + 60
        while _db(db, "select count(*) from trading_botcycle")[0][0] < 100:
            assert time.monotonic() < deadline, "the demo bots do not trade"
            time.sleep(0.5)
        body = {
            "passphrase": secret,
            "bot": "demo-signal",
            "symbol": "BTCUSDT.P",
            "action": "buy",
            "quote_amount": "200",
            "time": datetime.now(tz=UTC).isoformat(),
        }
        posted = requests.post(
            f"{platform.url}/api/webhook/tradingview/", data=json.dumps(body), timeout=10
        )
        assert posted.status_code == 202, posted.text
        signal_id = posted.json()["signal_id"]
        deadline = time.monotonic() + 20
        outcome = detail = "accepted"
        while time.monotonic() < deadline and outcome == "accepted":
            time.sleep(0.3)
            [(outcome, detail)] = _db(
                db, "select outcome, detail from trading_signal where id = ?", signal_id
            )
        assert outcome == "placed", (outcome, detail)
        # a body over the limit gets JSON, not a debug page
        big = requests.post(
            f"{platform.url}/api/webhook/tradingview/", data=b"x" * 3_000_000, timeout=30
        )
        assert big.status_code == 413 and big.json()["code"] == "too_large"

        # a backtest and a replay from the README, beside the running platform
        backtest = _manage(
            env,
            "backtest",
            "--strategy",
            "ema_cross",
            "--data",
            str(shared_data / "futures" / "BTCUSDT-1h.csv.gz"),
            "--start",
            "2025-06-01",
        )
        assert backtest.returncode == 0, backtest.stderr
        assert "TOTAL" in backtest.stdout and "win %" in backtest.stdout
        replay = _manage(
            env, "replay", "--bot", "demo-swing", "--start", "2025-09-02", "--end", "2025-09-04"
        )
        assert replay.returncode == 0, replay.stderr
        assert "paused now, kept for review" in replay.stdout
        [(state, rehearsal)] = _db(
            db, "select state, rehearsal from bots_bot where name like 'demo-swing-replay%'"
        )
        assert state == "paused" and rehearsal == 1
        empty = _manage(
            env, "replay", "--bot", "demo-swing", "--start", "2030-01-01", "--end", "2030-01-02"
        )
        assert empty.returncode != 0 and "nothing to replay" in empty.stderr
        assert len(_db(db, "select id from bots_bot where name like 'demo-swing-replay%'")) == 1

        # Ctrl-C: one line, quickly
        seconds, rest = platform.stop()
        print(f"first hour: Ctrl-C -> exit {seconds:.2f} s wall; the platform said {rest!r}")
        assert re.fullmatch(r"stopped in \d\.\d s\n", rest), rest
        assert seconds < 5  # a safety net: the figure is in docs/benchmarks.md
        before = _db(db, "select max(last_market) from market_replayclock")[0][0]

        # start again: the market clock resumes where it stopped, the demo goes on
        again = platform.start()
        assert "Admin user created" not in again
        resumed = re.search(r"market clock: replaying from (\S+ \S+) UTC", again).group(1)
        assert resumed > "2025-09-01 00:00" and resumed[:10] == before[:10]
        cycles = _db(db, "select count(*) from trading_botcycle")[0][0]
        time.sleep(4)
        assert _db(db, "select count(*) from trading_botcycle")[0][0] > cycles
    finally:
        if platform.proc is not None and platform.proc.poll() is None:
            platform.proc.kill()
            platform.proc.wait(10)
