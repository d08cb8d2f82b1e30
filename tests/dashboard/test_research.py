"""The cockpit's research pages: the backtest form starts a run the way the API does, the run
page carries its charts' data, two runs side by side, an optimisation's windows; staff only."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth import get_user_model

from apps.ai.models import ModelArtifact
from apps.backtest.models import BacktestRun, OptimizationRun, OptimizationTrial
from apps.backtest.optimisation.runs import optimization_run_create, optimization_run_execute
from apps.backtest.research.domain.walkforward import walk_forward_windows
from apps.backtest.tasks import backtest_run
from apps.dashboard.selectors_research import ms_to_day

pytestmark = pytest.mark.django_db

FORM = {
    "strategy": "ema_cross",
    "params": '{"fast": 12, "slow": 26, "warmup": 200, "sl": 0.02, "tp": 0.04}',
    "market": "futures",
    "symbols": ["ETHUSDT"],
    "interval": "1h",
    "start": "2024-01-01",
    "end": "2024-07-01",
    "fee": "0.0005",
    "maker_fee": "0.0002",
    "stake": "1000",
    "cash": "10000",
    "slippage": "none",
    "leverage": "1",
    "maintenance_margin": "0.004",
    "intrabar": "stop_first",
}


@pytest.fixture
def data_dir(shared_data, settings):
    settings.SHARED_DATA_DIR = shared_data
    return shared_data


def _json_script(html: str, element_id: str):
    match = re.search(
        rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.S
    )
    assert match, f"no {element_id} JSON on the page"
    return json.loads(match.group(1))


def _start(client, capture, **changes) -> BacktestRun:
    with capture() as callbacks:
        response = client.post("/research/", {**FORM, **changes})
    assert response.status_code == 302, response.content.decode()[:2000]
    run = BacktestRun.objects.latest("pk")
    assert response["Location"] == f"/research/?started={run.pk}#run-{run.pk}"
    assert len(callbacks) == 1  # the worker task, sent once the row is committed
    return run


def _done(client, capture, **changes) -> BacktestRun:
    run = _start(client, capture, **changes)
    backtest_run(run.pk)  # what the worker does with the queued task
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.DONE, run.error
    return run


@pytest.mark.parametrize(
    "url",
    [
        "/research/",
        "/research/progress.json?backtests=1",
        "/research/backtests/1/",
        "/research/backtests/compare/?a=1&b=2",
        "/research/optimizations/1/",
        "/research/optimizations/1/data.json",
    ],
)
def test_research_pages_redirect_anonymous_and_non_staff_users_to_the_login(client, url) -> None:
    response = client.get(url)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    user = get_user_model().objects.create_user("trader", "t@example.com", "pw-123456")
    client.force_login(user)  # logged in, not staff
    response = client.get(url)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_research_page_shows_the_form_with_the_api_options_and_the_lists(
    admin_client_logged, data_dir
) -> None:
    response = admin_client_logged.get("/research/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="backtest-form"' in html
    fields = "strategy params symbols interval start end fee maker_fee stake cash slippage leverage"
    for name in [*fields.split(), "maintenance_margin", "intrabar"]:
        assert f'name="{name}"' in html, name
    assert '<option value="ema_cross" selected>' in html
    assert '<option value="ai"' not in html  # needs a trained model, which the API cannot take
    assert "No backtest yet" in html
    defaults = _json_script(html, "strategy-defaults")
    assert defaults["ema_cross"]["defaults"]["fast"] == 12
    assert "1h" in _json_script(html, "data-catalogue")["futures"]["BTCUSDT"]


def test_form_starts_a_run_that_is_listed_with_live_progress_then_its_page_has_the_charts_data(
    admin_client_logged, data_dir, django_capture_on_commit_callbacks
) -> None:
    run = _start(admin_client_logged, django_capture_on_commit_callbacks)
    assert run.status == BacktestRun.Status.QUEUED
    assert run.data_files == ["futures/ETHUSDT-1h.csv.gz"] and run.symbols == ["ETHUSDT"]
    assert (run.start_ms, run.end_ms) == (1704067200000, 1719792000000)
    assert run.parameters == {"fast": 12, "slow": 26, "warmup": 200, "sl": 0.02, "tp": 0.04}
    assert run.execution["slippage"] == "none" and run.execution["maker_fee"] == "0.000200"

    html = admin_client_logged.get(f"/research/?started={run.pk}").content.decode()
    row = re.search(rf'<tr id="run-{run.pk}" data-testid="backtest-run" data-run="{run.pk}"'
                    rf' data-status="queued".*?</tr>', html, re.S)  # fmt: skip
    assert row and 'data-testid="backtest-progress"' in row.group(0)
    progress = admin_client_logged.get(f"/research/progress.json?backtests={run.pk}").json()
    assert progress["backtests"][str(run.pk)]["progress"]["status"] == "queued"
    assert progress["finished"] is False
    page = admin_client_logged.get(f"/research/backtests/{run.pk}/").content.decode()
    assert 'data-testid="backtest-progress"' in page and 'data-testid="equity-chart"' not in page

    backtest_run(run.pk)
    run.refresh_from_db()
    assert run.status == BacktestRun.Status.DONE, run.error
    progress = admin_client_logged.get(f"/research/progress.json?backtests={run.pk}").json()
    row = progress["backtests"][str(run.pk)]
    assert row["progress"]["status"] == "done" and row["progress"]["percent"] == 100
    assert row["trades"] == str(run.trade_count) and progress["finished"] is True

    response = admin_client_logged.get(f"/research/backtests/{run.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    for testid in ("equity-chart", "drawdown-chart", "monthly-heatmap", "price-chart"):
        assert f'data-testid="{testid}"' in html, testid
    assert 'data-testid="run-warning"' not in html  # the recomputation matches the stored run
    data = _json_script(html, "backtest-data")
    (symbol,) = data["symbols"]
    assert symbol["key"] == "ETHUSDT-1h"
    assert symbol["points"] == run.summary["candles"] == len(symbol["equity"])
    assert len(symbol["drawdown"]) == len(symbol["equity"]) == len(symbol["candles"])
    assert symbol["equity"][0] == [1704067200, 10000.0]
    assert symbol["equity"][-1][1] == pytest.approx(
        run.metrics["ETHUSDT-1h"]["final_equity"], abs=0.01
    )
    assert max(point[1] for point in symbol["drawdown"]) == 0.0
    assert len(symbol["markers"]) == 2 * run.trade_count
    times = [m["time"] for m in symbol["markers"]]
    assert times == sorted(times) and set(times) <= {c[0] for c in symbol["candles"]}
    # headline metrics for people; the heat map's cells carry each month's return
    assert re.search(r'data-field="total_return">Total return<b>-?[\d.]+ %</b>', html)
    assert re.search(r'data-field="final_equity">Final equity<b>[\d,]+\.\d\d</b>', html)
    months = run.metrics["ETHUSDT-1h"]["monthly_returns"]
    assert set(re.findall(r'data-month="(2024-\d\d)" data-value', html)) == set(months)
    assert html.count('data-testid="trade-row"') == run.trade_count


def test_bad_form_gets_a_one_line_error_and_starts_nothing(
    admin_client_logged, data_dir, django_capture_on_commit_callbacks
) -> None:
    cases = [
        ({"params": '{"fast": 40, "slow": 10}'}, "Parameters"),
        ({"params": "{fast: 12"}, "not valid JSON"),
        ({"symbols": ["ADAUSDT"], "interval": "5m"}, "no 5m futures data for ADAUSDT"),
        ({"start": "2024-07-01", "end": "2024-01-01"}, "the end date must be after the start"),
        ({"start": "2031-01-01", "end": "2031-02-01"}, "no ETHUSDT 1h candles"),
        ({"leverage": "500"}, "Leverage: Ensure this value is less than or equal to 125."),
        ({"fee": "cheap"}, "Taker fee"),
        ({"strategy": "ai"}, "Strategy"),
        ({"symbols": []}, "Symbol(s)"),
    ]
    for change, expected in cases:
        with django_capture_on_commit_callbacks() as callbacks:
            response = admin_client_logged.post("/research/", {**FORM, **change})
        assert response.status_code == 200, change  # the form again (no 4xx console error)
        html = response.content.decode()
        match = re.search(r'<p class="error" role="alert" data-testid="form-error">(.*?)</p>', html)
        assert match, change
        assert "\n" not in match.group(1) and expected in match.group(1), (change, match.group(1))
        assert not callbacks and not BacktestRun.objects.exists()
        assert 'data-testid="backtest-form"' in html  # the form again, with what was typed
    assert 'value="0.0005"' in html


def test_compare_page_shows_two_runs_metrics_and_both_equity_curves(
    admin_client_logged, data_dir, django_capture_on_commit_callbacks
) -> None:
    a = _done(admin_client_logged, django_capture_on_commit_callbacks)
    b = _done(admin_client_logged, django_capture_on_commit_callbacks,
              params='{"fast": 8, "slow": 40}', symbols=["ETHUSDT", "BTCUSDT"])  # fmt: skip
    response = admin_client_logged.get(f"/research/backtests/compare/?a={a.pk}&b={b.pk}")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="compare-metrics"' in html and 'data-testid="equity-chart"' in html
    assert f"A: #{a.pk}" in html and f"B: #{b.pk}" in html
    assert re.search(r'data-field="n_trades"><th>Trades</th><td class="num" data-run="a">'
                     rf"{a.trade_count}</td>", html)  # fmt: skip
    curves = _json_script(html, "compare-data")["curves"]
    assert [c["run"] for c in curves] == [a.pk, b.pk]
    assert len(curves[0]["equity"]) == a.summary["candles"]
    assert len(curves[1]["equity"]) == b.summary["candles"] // 2  # two symbols, one time axis
    assert curves[1]["equity"][0][1] == 20000.0  # each symbol starts with the run's cash
    b_final = sum(m["final_equity"] for m in b.metrics.values())
    assert curves[1]["equity"][-1][1] == pytest.approx(b_final, abs=0.02)

    queued = BacktestRun.objects.create(data_files=["futures/ETHUSDT-1h.csv.gz"])
    response = admin_client_logged.get(f"/research/backtests/compare/?a={a.pk}&b={queued.pk}")
    assert response.status_code == 200
    assert f"b: run {queued.pk} is queued, not done" in response.content.decode()
    assert admin_client_logged.get("/research/backtests/compare/").status_code == 200


def _optimization(data_dir) -> OptimizationRun:
    return optimization_run_create(
        data_file=str(data_dir / "futures" / "ETHUSDT-1h.csv.gz"),
        space={"fast": {"low": 5, "high": 30}, "slow": {"low": 20, "high": 120}},
        start_ms=1704067200000,  # 2024-01-01 .. 2024-04-01: 2,184 hourly candles
        end_ms=1711929600000,
        train=720,
        test=240,
        warmup=100,
        trials=4,
        batch=2,
        seed=3,
    )


def test_optimisation_page_shows_progress_then_in_and_out_of_sample_per_window(
    admin_client_logged, data_dir
) -> None:
    run = _optimization(data_dir)
    # half-way: one complete trial in window 0 (as a worker writes it)
    OptimizationTrial.objects.create(
        run=run, window=0, number=0, params={"fast": 9, "slow": 50},
        state=OptimizationTrial.State.COMPLETE, value=1.25, out_of_sample_value=-0.5,
    )  # fmt: skip
    html = admin_client_logged.get(f"/research/optimizations/{run.pk}/").content.decode()
    assert 'data-testid="window-chart"' in html and 'data-testid="optimization-progress"' in html
    data = _json_script(html, "optimization-data")
    windows = len(walk_forward_windows(2184, train=720, test=240, warmup=100))
    assert data["progress"]["complete"] == 1 and data["progress"]["windows"] == windows == 5
    assert data["progress"]["total"] == 20 and "1 / 20 trials" in data["progress"]["text"]
    assert data["windows"][0]["in_sample"] == 1.25 and data["windows"][0]["out_of_sample"] == -0.5
    assert data["windows"][1]["in_sample"] is None
    times = [w["time"] for w in data["windows"]]
    assert times == sorted(set(times))
    listed = admin_client_logged.get("/research/").content.decode()
    assert f'data-testid="optimization-run" data-run="{run.pk}" data-status="queued"' in listed

    OptimizationTrial.objects.filter(run=run).delete()
    run = optimization_run_execute(run.pk)
    data = admin_client_logged.get(f"/research/optimizations/{run.pk}/data.json").json()
    assert data["progress"]["status"] == "done" and data["progress"]["percent"] == 100
    assert len(data["windows"]) == len(run.windows) == 5
    for shown, stored in zip(data["windows"], run.windows, strict=True):
        assert shown["in_sample"] == pytest.approx(stored["in_sample"])
        assert shown["out_of_sample"] == pytest.approx(stored["out_of_sample"])
        assert shown["test"] == stored["test"] and shown["complete"] == 4
        assert ms_to_day(shown["time"] * 1000) == stored["test"].split("..")[0]  # the x axis


def test_training_runs_are_listed_with_their_progress(admin_client_logged, data_dir) -> None:
    model = ModelArtifact.objects.create(kind="ppo", name="ppo-btc", progress=0.4)
    html = admin_client_logged.get("/research/").content.decode()
    assert f'data-testid="training-run" data-model="{model.pk}" data-status="training"' in html
    assert "training · 40 %" in html
    model.progress, model.status = 1.0, ModelArtifact.Status.CANDIDATE
    model.save()
    row = admin_client_logged.get(f"/research/progress.json?models={model.pk}").json()["models"]
    assert row[str(model.pk)]["progress"]["percent"] == 100


def test_long_runs_are_thinned_for_the_charts_and_several_symbols_get_a_picker(
    admin_client_logged, data_dir, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    from apps.dashboard import selectors_research

    monkeypatch.setattr(selectors_research, "MAX_CANDLES", 1000)
    monkeypatch.setattr(selectors_research, "MAX_CHART_POINTS", 700)
    run = _done(
        admin_client_logged, django_capture_on_commit_callbacks, symbols=["ETHUSDT", "BTCUSDT"]
    )
    html = admin_client_logged.get(f"/research/backtests/{run.pk}/").content.decode()
    assert 'data-testid="price-symbol"' in html
    data = _json_script(html, "backtest-data")
    assert [s["key"] for s in data["symbols"]] == ["ETHUSDT-1h", "BTCUSDT-1h"]
    for symbol in data["symbols"]:
        n = symbol["points"]  # 4,368 hourly candles each
        assert n == run.summary["candles"] // 2 and len(symbol["equity"]) <= 700
        k = symbol["candles_merged"]
        assert k == 5 and len(symbol["candles"]) == -(-n // k)
        assert symbol["equity"][-1][1] == pytest.approx(
            run.metrics[symbol["key"]]["final_equity"], abs=0.01
        )
        times = {c[0] for c in symbol["candles"]}
        assert {m["time"] for m in symbol["markers"]} <= times
        highs = [c[2] for c in symbol["candles"]]
        assert max(highs) >= max(c[4] for c in symbol["candles"])
