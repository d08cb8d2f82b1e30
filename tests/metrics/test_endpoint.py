"""/metrics on the web process and the metrics server of the other processes: closed unless a
token or an allowlist is configured, then the real exposition format."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

import apps.metrics.exposition as exposition
from apps.metrics.domain.access import MetricsAccess
from apps.monitoring.models import AlertRule
from apps.risk.models import RiskSettings
from apps.trading.models import Position
from tests.factories import make_bot
from testsupport.processes import free_port

from .conftest import sample

REPO = Path(__file__).resolve().parents[2]
TOKEN = "metrics-test-token-0123456789"


def _families(text: str) -> dict[str, object]:
    return {family.name: family for family in text_string_to_metric_families(text)}


@pytest.mark.django_db
def test_metrics_with_nothing_configured_is_not_found(client, settings) -> None:
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "", []
    assert client.get("/metrics").status_code == 404


@pytest.mark.django_db
def test_metrics_with_token_refuses_missing_or_wrong_token(client, settings) -> None:
    settings.METRICS_TOKEN = TOKEN
    missing = client.get("/metrics")
    assert missing.status_code == 401 and missing["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    assert b"tradingplatform" not in missing.content


@pytest.mark.django_db
def test_metrics_with_allowlist_refuses_other_addresses(client, settings) -> None:
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "", ["10.9.0.0/16"]
    assert client.get("/metrics").status_code == 403  # the test client is 127.0.0.1
    settings.METRICS_ALLOWED_IPS = ["127.0.0.0/8"]
    assert client.get("/metrics").status_code == 200


@pytest.mark.django_db
def test_metrics_with_token_exports_process_and_state_metrics(
    client, settings, fresh_state
) -> None:
    settings.METRICS_TOKEN = TOKEN
    bot = make_bot("metrics-bot", state="running")
    RiskSettings.objects.create(bot=bot, max_exposure=Decimal("2500"))
    AlertRule.objects.create(bot=bot, max_drawdown_pct=Decimal("7.5"))
    Position.objects.create(
        bot=bot,
        symbol="BTCUSDT",
        side="LONG",
        quantity=Decimal("0.010"),
        entry_price=Decimal("60000"),
        mark_price=Decimal("61000"),
        unrealized_pnl=Decimal("10"),
    )
    answer = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/plain; version=")
    families = _families(answer.content.decode())
    assert "tradingplatform_orders" in families  # a process metric (declared, maybe no samples)

    def value(name: str, **labels: str) -> float:
        family = families[name]
        (match,) = [s for s in family.samples if s.labels == labels]
        return match.value

    balance = float(bot.account.paper_starting_balance)
    assert value("tradingplatform_bot_equity_usdt", bot="metrics-bot") == balance + 10
    assert value("tradingplatform_bot_exposure_usdt", bot="metrics-bot") == 610.0
    assert value("tradingplatform_bot_open_positions", bot="metrics-bot") == 1
    assert value("tradingplatform_bot_state", bot="metrics-bot", state="running", cause="none") == 1
    assert value("tradingplatform_bot_state", bot="metrics-bot", state="halted", cause="none") == 0
    assert value("tradingplatform_bot_exposure_limit_usdt", bot="metrics-bot") == 2500.0
    assert value("tradingplatform_bot_drawdown_limit_ratio", bot="metrics-bot") == 0.075
    assert value("tradingplatform_bot_drawdown_ratio", bot="metrics-bot") == 0.0
    assert value("tradingplatform_state_up") == 1
    assert value("tradingplatform_celery_queue_length", queue="celery") >= 0


@pytest.mark.django_db
def test_request_middleware_counts_answers_by_route_and_status(client) -> None:
    from django.core.cache import cache

    cache.clear()  # the webhook's failed-authentication throttle of 127.0.0.1 (earlier tests)
    route = "api-webhook-tradingview"
    before = sample("tradingplatform_http_requests_total", route=route, method="POST", status="400")
    before_413 = sample(
        "tradingplatform_http_requests_total", route=route, method="POST", status="413"
    )
    client.post("/api/webhook/tradingview/", data="not json", content_type="application/json")
    client.post("/api/webhook/tradingview/", data="x" * 3_000_000, content_type="application/json")
    client.get("/no/such/page/")
    after = sample("tradingplatform_http_requests_total", route=route, method="POST", status="400")
    assert after == before + 1
    assert (
        sample("tradingplatform_http_requests_total", route=route, method="POST", status="413")
        == before_413 + 1
    )
    assert (
        sample("tradingplatform_http_request_duration_seconds_count", route=route, method="POST")
        >= 2
    )
    assert (
        sample("tradingplatform_http_requests_total", route="unmatched", method="GET", status="404")
        >= 1
    )


def test_side_server_serves_metrics_over_http_only_with_the_token() -> None:
    port = free_port()
    server = exposition.side_server_start(
        addr="127.0.0.1", port=port, access=MetricsAccess(token=TOKEN)
    )
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        assert requests.get(url, timeout=5).status_code == 401
        assert (
            requests.get(url, headers={"Authorization": "Bearer x"}, timeout=5).status_code == 401
        )
        answer = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        assert answer.status_code == 200
        families = _families(answer.text)
        assert "tradingplatform_celery_tasks" in families
        assert "tradingplatform_bot_equity_usdt" not in families  # state: the web's only
    finally:
        server.shutdown()
        server.server_close()


def test_side_server_without_token_or_allowlist_is_not_started(settings, caplog) -> None:
    settings.METRICS_PORT, settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = 1, "", []
    with caplog.at_level(logging.ERROR, logger="apps.metrics.exposition"):
        exposition.side_server_start_from_settings()
    assert exposition._side_server is None
    assert "metrics are never public" in caplog.text


_WRITER = """
from apps.metrics import registry as m
m.ORDERS.labels("mp-bot", "BTCUSDT", "BUY", "MARKET", "FILLED").inc()
m.EXCHANGE_WEIGHT_USED.set({weight})
"""
_READER = """
from apps.metrics.exposition import scrape
print(scrape(with_state=False).decode())
"""


def test_multiprocess_mode_sums_the_processes_of_one_directory(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for weight in (120, 340):  # two worker processes, one after the other
        subprocess.run(
            [sys.executable, "-c", _WRITER.format(weight=weight)], cwd=REPO, env=env, check=True
        )
    out = subprocess.run(
        [sys.executable, "-c", _READER],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    families = _families(out)
    (orders,) = [s for s in families["tradingplatform_orders"].samples if s.name.endswith("_total")]
    assert orders.labels["bot"] == "mp-bot" and orders.value == 2
    (weight,) = families["tradingplatform_exchange_weight_used"].samples
    assert weight.value == 340  # the most recent report wins


def test_manage_with_malformed_allowlist_stops_with_one_line_naming_the_entry() -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))},
        "DJANGO_SETTINGS_MODULE": "tradingplatform.settings.dev",
        "TRADINGPLATFORM_ENV_FILE": "",
        "METRICS_ALLOWED_IPS": "10.0.0.0/8,10.0.0.300",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "metrics.E001" in result.stderr and "'10.0.0.300'" in result.stderr
