"""A real Prometheus (Debian's ``prometheus`` / ``promtool``): the project's scrape config and
alert rules check, every alert rule has unit tests that pass, and Prometheus scraping the real
platform (``manage.py runplatform``, the embedded default, trading the replayed demo and a
TradingView webhook signal) holds the trading metrics, behind the bearer token."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from testsupport.processes import Platform, Process, answers, free_port, process_env, wait_until

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "prometheus"
TOKEN = "prometheus-e2e-token-6c1f0e2a"


def _tool(name: str) -> str:
    """The path of a Prometheus binary; skip without it (fail on CI, where .ci/run installs it)."""
    found = shutil.which(name)
    if found is None:
        reason = f"{name} is not installed (Debian package `prometheus`)"
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(f"REQUIRE_SERVICES=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def _scrape_config(*, target: str, token_file: Path, interval: str = "1s") -> dict[str, Any]:
    """The project's scrape config, its web job pointed at ``target`` with ``token_file``; a
    second job scrapes the same target without the token."""
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    config["global"].update(
        {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval}
    )
    config["rule_files"] = [str(DEPLOY / pattern) for pattern in config["rule_files"]]
    (web,) = [job for job in config["scrape_configs"] if job["job_name"] == "tradingplatform-web"]
    web["static_configs"] = [{"targets": [target]}]
    web["authorization"]["credentials_file"] = str(token_file)
    anonymous = {"job_name": "no-token", "static_configs": [{"targets": [target]}]}
    config["scrape_configs"] = [web, anonymous]
    return config


def test_promtool_checks_the_config_and_the_rules(tmp_path: Path) -> None:
    promtool = _tool("promtool")
    syntax = _run(promtool, "check", "config", "--syntax-only", str(DEPLOY / "prometheus.yml"))
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr
    token = tmp_path / "token"
    token.write_text(TOKEN)
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(_scrape_config(target="127.0.0.1:9", token_file=token)))
    full = _run(promtool, "check", "config", str(config))  # the rule files too
    assert full.returncode == 0, full.stdout + full.stderr
    rules = _run(promtool, "check", "rules", *map(str, sorted(DEPLOY.glob("rules/*.yml"))))
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "SUCCESS" in rules.stdout


def test_promtool_unit_tests_cover_every_alert_rule_and_pass() -> None:
    promtool = _tool("promtool")
    alerts = {
        rule["alert"]
        for path in DEPLOY.glob("rules/*.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    test_files = sorted(DEPLOY.glob("tests/*.yml"))
    tested = {
        case["alertname"]
        for path in test_files
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")  # each rule is seen firing, not only silent
    }
    assert alerts and alerts <= tested, alerts - tested
    result = _run(promtool, "test", "rules", *map(str, test_files))
    assert result.returncode == 0, result.stdout + result.stderr


# --- Prometheus scraping the running platform -------------------------------------------------
def _db(path: Path, sql: str, *args: object) -> list[tuple]:
    with sqlite3.connect(path, timeout=30) as conn:
        return conn.execute(sql, args).fetchall()


class _Prometheus(Process):
    def __init__(self, prometheus: str, config: Path, data: Path) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        super().__init__(
            [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address={self.url.removeprefix('http://')}",
            ],
            env=dict(os.environ),
            log=data.with_suffix(".log"),
        )
        self.start()
        self.wait_ready("Prometheus ready", lambda: answers(f"{self.url}/-/ready"), within=60)

    def query(self, promql: str) -> list[dict[str, Any]]:
        answer = requests.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10)
        body = answer.json()
        assert body["status"] == "success", body
        return body["data"]["result"]

    def value(self, promql: str) -> float | None:
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else None


@pytest.mark.slow
def test_prometheus_scrapes_trading_metrics_from_the_running_platform(
    tmp_path: Path, shared_data: Path
) -> None:
    prometheus = _tool("prometheus")
    env_file = tmp_path / ".env"
    subprocess.run([sys.executable, "scripts/make_env.py", str(env_file)], cwd=REPO, check=True)
    secret = re.search(r"^WEBHOOK_SECRET=(.+)$", env_file.read_text(), re.M).group(1)
    db = tmp_path / "db.sqlite3"
    env = process_env(
        TRADINGPLATFORM_ENV_FILE=str(env_file),
        SQLITE_PATH=str(db),
        STATIC_ROOT=str(tmp_path / "static"),
        SHARED_DATA_DIR=str(shared_data),
        MARKET_REPLAY_SPEED="18000",  # an hour of market time every 0.2 s
        METRICS_TOKEN=TOKEN,
        METRICS_STATE_CACHE_S="1",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    platform = Platform(env=env, log=tmp_path / "runplatform.log")
    server: _Prometheus | None = None
    try:
        platform.start()
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

        def placed() -> bool:
            [(outcome,)] = _db(db, "select outcome from trading_signal where id = ?", signal_id)
            return outcome != "accepted"

        wait_until("the webhook signal decided", placed, within=30)
        [(outcome,)] = _db(db, "select outcome from trading_signal where id = ?", signal_id)
        assert outcome == "placed"
        # the endpoint itself: closed without the token
        assert requests.get(f"{platform.url}/metrics", timeout=10).status_code == 401

        token_file = tmp_path / "metrics_token"
        token_file.write_text(TOKEN)
        config = tmp_path / "prometheus.yml"
        config.write_text(
            yaml.safe_dump(
                _scrape_config(target=f"127.0.0.1:{platform.port}", token_file=token_file)
            )
        )
        server = _Prometheus(prometheus, config, tmp_path / "tsdb")
        orders = 'sum(tradingplatform_orders_total{job="tradingplatform-web", bot="demo-signal"})'
        wait_until("orders in Prometheus", lambda: (server.value(orders) or 0) > 0, within=60)

        # The same target, scraped by a job without the token, is refused. Each job scrapes on
        # its own schedule, so wait for both (a loaded machine may lag a scrape or two).
        wait_until(
            "the job with the token up, the one without down",
            lambda: (
                server.value('up{job="tradingplatform-web"}') == 1
                and server.value('up{job="no-token"}') == 0
            ),
            within=60,
        )
        filled = 'sum(tradingplatform_orders_total{bot="demo-signal", status="FILLED"})'
        assert (server.value(filled) or 0) > 0
        route = 'route="api-webhook-tradingview"'
        webhook = f'sum(tradingplatform_http_requests_total{{{route}, status="202"}})'
        assert server.value(webhook) >= 1
        assert (
            server.value('sum(tradingplatform_signals_total{source="webhook", outcome="placed"})')
            >= 1
        )
        assert (server.value("sum(tradingplatform_fills_total)") or 0) > 0
        cycles = "sum(tradingplatform_cycles_total)"  # the demo bots' candle cycles
        wait_until("cycles in Prometheus", lambda: (server.value(cycles) or 0) > 0, within=60)
        assert (server.value("sum(tradingplatform_celery_tasks_total)") or 0) > 0
        equity = server.query("tradingplatform_bot_equity_usdt")
        assert "demo-signal" in {row["metric"]["bot"] for row in equity}
        # its position may already be closed by its stop (an hour of market time every 0.2 s)
        assert server.value('tradingplatform_bot_open_positions{bot="demo-signal"}') is not None
        assert server.value('tradingplatform_bot_state{bot="demo-signal", state="running"}') == 1
        assert server.value("tradingplatform_state_up") == 1
        rules = requests.get(f"{server.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
        assert {"tradingplatform-trading", "tradingplatform-exchange"} <= {g["name"] for g in rules}
        assert all(rule["health"] == "ok" for g in rules for rule in g["rules"]), rules
    finally:
        if server is not None:
            server.stop()
        platform.stop()
