"""ParameterOptimizer: grid and TPE search, walk-forward validation, the optimize command."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from apps.backtest.domain.walkforward import Window, walk_forward_windows
from apps.backtest.optimizer import OptimizerError, ParameterOptimizer, position_notional
from apps.market.data import load_klines


@pytest.fixture
def eth(shared_data):
    klines = load_klines(shared_data / "futures" / "ETHUSDT-1h.csv.gz")
    return klines.slice(len(klines) - 6000, None)


def test_walk_forward_windows_with_rolling_step_never_overlap_test_and_train() -> None:
    windows = walk_forward_windows(100, train=40, test=20, warmup=10)
    assert windows == [Window(10, 50, 50, 70), Window(30, 70, 70, 90)]
    with pytest.raises(ValueError, match="cannot hold one window"):
        walk_forward_windows(50, train=40, test=20)


def test_grid_search_with_small_grid_finds_the_brute_force_best(eth) -> None:
    space = {"fast": [5, 12], "slow": [26, 50], "sl": [0.01, 0.03], "tp": [0.02]}
    optimizer = ParameterOptimizer(space=space, method="grid", trials=100, objective="sharpe")
    found = optimizer.search(eth)
    assert len(found.trials) == 8
    brute = max(
        (optimizer.evaluate({"fast": f, "slow": s, "sl": sl, "tp": 0.02}, eth)[0], f, s, sl)
        for f in (5, 12)
        for s in (26, 50)
        for sl in (0.01, 0.03)
    )
    assert found.best_value == brute[0]


def test_tpe_search_with_same_seed_is_reproducible(eth) -> None:
    space = {"fast": {"low": 5, "high": 30}, "slow": {"low": 20, "high": 120}}
    a = ParameterOptimizer(space=space, trials=12, seed=3).search(eth)
    b = ParameterOptimizer(space=space, trials=12, seed=3).search(eth)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    assert a.best_params == b.best_params and a.best_value == b.best_value


def test_search_with_refused_parameters_scores_them_worst(eth) -> None:
    optimizer = ParameterOptimizer(space={"fast": [30], "slow": [10]}, method="grid")
    assert optimizer.search(eth).best_value == -1e9


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"space": {"speed": [1]}}, "unknown parameter"),
        ({"space": {"fast": 5}}, "list of values"),
        ({"space": {"fast": {"low": 1, "high": 9}}, "method": "grid"}, "grid search needs"),
        ({"space": {"fast": [5]}, "objective": "luck"}, "unknown objective 'luck'"),
        ({"space": {"max_leverage": [2]}}, "risk: stake, leverage, risk_per_trade"),
        ({"space": {"leverage": [1, 200]}}, r"leverage must be in \[1, 125\], got 200"),
        ({"space": {"risk_per_trade": {"low": 0.01, "high": 0.5}}}, "risk_per_trade must be"),
        ({"space": {"fast": [0, 5]}}, "fast must be >= 1, got 0"),
        ({"space": {"slow": {"low": 90, "high": 20}}}, r"low \(90\) is above high \(20\)"),
        ({"space": {"fast": [5]}, "batch": 0}, "batch must be at least 1"),
    ],
)
def test_optimizer_with_bad_settings_fails_in_one_line(kwargs, message) -> None:
    with pytest.raises(OptimizerError, match=message):
        ParameterOptimizer(**kwargs)


def test_position_size_follows_the_searched_risk_keys() -> None:
    size = position_notional
    assert size({}, stake=1000, cash=10000, stop_loss=0.02) == 1000  # the plain stake
    assert size({"stake": 500, "leverage": 4}, stake=1000, cash=10000, stop_loss=0.02) == 2000
    # 1 % of the cash lost at a 2 % stop: 5,000 notional, capped by leverage and exposure.
    assert size({"risk_per_trade": 0.01}, stake=1000, cash=10000, stop_loss=0.02) == 5000
    assert size({"risk_per_trade": 0.05}, stake=1000, cash=10000, stop_loss=0.02) == 10000
    risk = {"risk_per_trade": 0.05, "leverage": 3}
    assert size(risk, stake=1000, cash=10000, stop_loss=0.02) == 25000
    risk = {"risk_per_trade": 0.05, "leverage": 3, "max_exposure": 7000}
    assert size(risk, stake=1000, cash=10000, stop_loss=0.02) == 7000


def test_leverage_in_the_space_scales_the_backtested_returns(eth) -> None:
    optimizer = ParameterOptimizer(
        space={"leverage": [1, 3]}, method="grid", objective="total_return"
    )
    found = optimizer.search(eth)
    one, three = (t.value for t in found.trials)
    assert one != 0 and three == pytest.approx(3 * one)
    assert found.best_params == ({"leverage": 3} if one > 0 else {"leverage": 1})


@pytest.mark.django_db
def test_optimize_command_reports_in_and_out_of_sample_side_by_side(shared_data, tmp_path) -> None:
    out, result = StringIO(), tmp_path / "wf.json"
    call_command(
        "optimize",
        data=str(shared_data / "futures" / "ETHUSDT-1h.csv.gz"),
        trials=4,
        train=24 * 120,
        test=24 * 30,
        seed=5,
        json_out=str(result),
        stdout=out,
    )
    report = json.loads(result.read_text())
    assert len(report["windows"]) > 10
    first = report["windows"][0]
    assert {"train", "test", "best_params", "in_sample", "out_of_sample"} <= set(first)
    assert "mean sharpe: in-sample" in out.getvalue()
    assert "in-sample  out-of-sample" in out.getvalue()  # the table's header
    again = tmp_path / "again.json"
    call_command(
        "optimize",
        data=str(shared_data / "futures" / "ETHUSDT-1h.csv.gz"),
        trials=4,
        train=24 * 120,
        test=24 * 30,
        seed=5,
        json_out=str(again),
        stdout=StringIO(),
    )
    assert json.loads(again.read_text())["windows"] == report["windows"]  # reproducible
