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
