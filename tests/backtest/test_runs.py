"""Backtest runs: started through the API, executed by the worker task, read back."""

from __future__ import annotations

import pytest

from apps.backtest.models import BacktestRun
from apps.backtest.tasks import backtest_run

pytestmark = pytest.mark.django_db

BODY = {
    "strategy": "ema_cross",
    "params": {"fast": 12, "slow": 26, "warmup": 200, "sl": 0.02, "tp": 0.04},
    "data": ["futures/ETHUSDT-1h.csv.gz"],
    "start": "2024-01-01T00:00:00Z",
    "end": "2025-01-01T00:00:00Z",
}


def test_backtest_api_with_valid_request_queues_runs_and_reports(
    admin_client_logged, shared_data, settings, django_capture_on_commit_callbacks
) -> None:
    settings.SHARED_DATA_DIR = shared_data
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client_logged.post(
            "/api/backtests/", BODY, content_type="application/json"
        )
    assert response.status_code == 202, response.content
    run_id = response.json()["id"]
    assert response.json()["status"] == "queued" and len(callbacks) == 1
    backtest_run(run_id)  # what the worker does with the queued task
    result = admin_client_logged.get(f"/api/backtests/{run_id}/").json()
    assert result["status"] == "done", result["error"]
    assert result["trade_count"] > 10 and result["code_version"]
    assert result["first_open_time"] == 1704067200000
    assert set(result["metrics"]["ETHUSDT-1h"]) >= {"sharpe", "max_drawdown", "win_rate"}
    run = BacktestRun.objects.get(pk=run_id)
    assert len(run.trades) == run.trade_count
    assert (
        admin_client_logged.get(f"/admin/backtest/backtestrun/{run_id}/change/").status_code == 200
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"data": ["../../etc/passwd"]}, "data"),
        ({"params": {"fast": 40, "slow": 10}}, "params"),
        ({"strategy": "martingale"}, "strategy"),
    ],
)
def test_backtest_api_with_bad_request_is_400_and_queues_nothing(
    admin_client_logged, shared_data, settings, change, field
) -> None:
    settings.SHARED_DATA_DIR = shared_data
    response = admin_client_logged.post(
        "/api/backtests/", {**BODY, **change}, content_type="application/json"
    )
    assert response.status_code == 400
    assert field in response.json()["extra"]["fields"]
    assert not BacktestRun.objects.exists()


def test_backtest_api_with_any_strategy_and_execution_options_runs_them(
    admin_client_logged, shared_data, settings, django_capture_on_commit_callbacks
) -> None:
    settings.SHARED_DATA_DIR = shared_data
    body = {
        "strategy": "bollinger_scalp",
        "data": ["futures/BTCUSDT-5m.csv.gz"],
        "start": "2025-01-01T00:00:00Z",
        "end": "2025-03-01T00:00:00Z",
        "slippage": "book",
        "stake": "200000",  # big enough to walk past the first levels of the book
        "cash": "1000000",
        "leverage": "3",
        "intrabar": "path",
    }
    with django_capture_on_commit_callbacks():
        response = admin_client_logged.post(
            "/api/backtests/", body, content_type="application/json"
        )
    assert response.status_code == 202, response.content
    assert response.json()["execution"]["slippage"] == "book"
    backtest_run(response.json()["id"])
    result = admin_client_logged.get(f"/api/backtests/{response.json()['id']}/").json()
    assert result["status"] == "done", result["error"]
    summary = result["summary"]
    assert summary["execution"] == {
        **summary["execution"],
        "leverage": 3.0,
        "slippage": "book",
        "intrabar": "path",
    }
    assert summary["by_side"]["short"]["trades"] > 0 and summary["by_side"]["long"]["trades"] > 0
    assert summary["avg_slippage_bps"] > 0  # market fills walked the book
    assert {t["side"] for t in BacktestRun.objects.get(pk=result["id"]).trades} == {"long", "short"}


def test_backtest_api_refuses_the_signal_strategy(admin_client_logged, shared_data, settings):
    settings.SHARED_DATA_DIR = shared_data
    response = admin_client_logged.post(
        "/api/backtests/", {**BODY, "strategy": "signal"}, content_type="application/json"
    )
    assert response.status_code == 400 and "strategy" in response.json()["extra"]["fields"]
