"""The first hour of a new user, end to end, on the real process (`manage.py runplatform`, the
embedded default: SQLite, in-process worker and beat, no servers): start on a clean database,
log in, post a webhook signal while the signal bot is busy catching up candles and see it
placed, run a backtest and a replay, stop with Ctrl-C, start again and see the demo go on.

It is also the test of the embedded default itself (no Redis, no PostgreSQL): /health/ names
SQLite and the in-memory broker, static files are served, and beat, worker, channel layer and a
logged-in browser socket meet in the one process (the heartbeat)."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from websockets.sync.client import connect as ws_connect

from testsupport.processes import Platform, process_env, wait_until

REPO = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # a safety net on a loaded machine


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
    env = process_env(
        TRADINGPLATFORM_ENV_FILE=str(env_file),  # as `make run` writes it
        SQLITE_PATH=str(db),
        STATIC_ROOT=str(tmp_path / "static"),
        SHARED_DATA_DIR=str(shared_data),
        # A busy demo: an hour of market time every 0.2 s, so the signal bot always has
        # candles to catch up (a signal must not wait behind them).
        MARKET_REPLAY_SPEED="18000",
    )
    platform = Platform(env=env, log=tmp_path / "runplatform.log")
    try:
        out = platform.start()
        password = re.search(r"Password \(shown once.*\): (\S+)", out).group(1)
        assert f"Webhook passphrase (WEBHOOK_SECRET in .env): {secret}" in out
        assert "market clock: replaying from 2025-09-01 00:00 UTC" in out
        assert "/metrics (bearer METRICS_TOKEN from .env)" in out
        assert "Admin user created: admin" in out and "demo loaded: 7 instruments" in out
        health = requests.get(f"{platform.url}/health/", timeout=10).json()
        assert health["status"] == "ok", health
        assert health["checks"]["database"]["backend"] == "sqlite"
        assert health["checks"]["broker"]["backend"] == "memory"
        assert requests.get(f"{platform.url}/static/admin/css/base.css", timeout=10).ok

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
        # beat -> worker -> channel layer -> the logged-in browser's socket, in one process
        with ws_connect(
            platform.url.replace("http://", "ws://") + "/ws/live/",
            additional_headers={
                "Cookie": "; ".join(f"{k}={v}" for k, v in web.cookies.items()),
                "Origin": platform.url,
            },
            open_timeout=10,
        ) as live:
            assert json.loads(live.recv(timeout=10))["kind"] == "hello"

            def heartbeat() -> dict | None:  # the beat sends one every 10 s
                event = json.loads(live.recv(timeout=30))
                return event if event["kind"] == "heartbeat" else None

            beat = wait_until("a heartbeat on the socket", heartbeat, within=60, every=0)
        assert beat["data"]["bots_total"] == 4  # the demo bots

        # the README's webhook, while the bots (the signal bot too) catch up their candles
        wait_until(
            "the demo bots trading (100 cycles)",
            lambda: _db(db, "select count(*) from trading_botcycle")[0][0] >= 100,
            within=60,
        )
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
        [(outcome, detail)] = wait_until(
            "the webhook signal decided",
            lambda: [
                row
                for row in _db(
                    db, "select outcome, detail from trading_signal where id = ?", signal_id
                )
                if row[0] != "accepted"
            ],
            within=20,
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
        seconds, rest = platform.interrupt()
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
        wait_until(
            "a new bot cycle after the restart",
            lambda: _db(db, "select count(*) from trading_botcycle")[0][0] > cycles,
            within=30,
        )
    finally:
        platform.kill()
