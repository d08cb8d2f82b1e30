"""ParameterOptimizer: grid and TPE search of every kind, several files, walk-forward, the
optimize command."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command

from apps.backtest.optimisation.optimizer import (
    DEFAULT_SPACES,
    OptimizerError,
    ParameterOptimizer,
    align_series,
    backtestable_kinds,
    default_space,
    position_notional,
    validate_space,
)
from apps.backtest.research.domain.walkforward import Window, walk_forward_windows
from apps.backtest.services import backtest_series
from apps.market.data import Klines, load_klines
from apps.strategies.domain.params import SCHEMAS
from apps.strategies.domain.registry import STRATEGIES
from apps.strategies.domain.trend_swing import TrendSwing


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


# --- every registered kind, several data files ---------------------------------------------------


@pytest.fixture
def btc(shared_data):
    klines = load_klines(shared_data / "futures" / "BTCUSDT-1h.csv.gz")
    return klines.slice(len(klines) - 6500, None)


def _drop(klines: Klines, index: int) -> Klines:
    """The same candles without the one at ``index`` (a gap)."""
    arrays = {
        name: np.delete(getattr(klines, name), index)
        for name in ("open_time", "open", "high", "low", "close", "volume")
    }
    return Klines(symbol=klines.symbol, interval=klines.interval, **arrays)


def test_default_space_of_every_kind_comes_from_its_schema() -> None:
    assert default_space("ema_cross") == DEFAULT_SPACES["ema_cross"]  # the historic space
    assert default_space("trend_swing") == {
        "fast": {"low": 10, "high": 40},
        "slow": {"low": 25, "high": 100},
        "breakout": {"low": 10, "high": 40},
        "atr_period": {"low": 7, "high": 28},
        "stop_atr": {"low": 1.25, "high": 5.0},
        "trail_atr": {"low": 1.5, "high": 6.0},
    }
    assert default_space("bollinger_scalp")["rsi_overbought"] == {"low": 35.0, "high": 99.0}
    assert "signal" not in backtestable_kinds()
    for kind in backtestable_kinds():
        space = default_space(kind)
        assert space and validate_space(space, "tpe", kind) == space


def test_tpe_search_over_bollinger_scalp_with_same_seed_is_reproducible(eth) -> None:
    part = eth.slice(0, 2000)
    a = ParameterOptimizer(strategy="bollinger_scalp", trials=10, batch=5, seed=4).search(part)
    b = ParameterOptimizer(strategy="bollinger_scalp", trials=10, batch=5, seed=4).search(part)
    assert [(t.params, t.value) for t in a.trials] == [(t.params, t.value) for t in b.trials]
    assert a.best_params == b.best_params and a.best_value > -1e9
    assert set(a.best_params) == set(default_space("bollinger_scalp"))
    assert all(isinstance(t.params["bb_period"], int) for t in a.trials)
    c = ParameterOptimizer(strategy="bollinger_scalp", trials=10, batch=5, seed=5).search(part)
    assert [t.params for t in c.trials] != [t.params for t in a.trials]


def test_grid_search_over_trend_swing_finds_the_brute_force_best_and_refuses_fast_above_slow(
    eth,
) -> None:
    part = eth.slice(0, 2000)
    space = {"fast": [10, 60], "slow": [50, 100], "stop_atr": [2.0, 3.0]}
    optimizer = ParameterOptimizer(strategy="trend_swing", space=space, method="grid")
    found = optimizer.search(part)
    assert len(found.trials) == 8
    values = {json.dumps(t.params, sort_keys=True): t.value for t in found.trials}
    assert values['{"fast": 60, "slow": 50, "stop_atr": 2.0}'] == -1e9  # fast >= slow: refused
    brute = max(
        optimizer.evaluate({"fast": f, "slow": s, "stop_atr": a}, part).value
        for f in (10, 60)
        for s in (50, 100)
        for a in (2.0, 3.0)
    )
    assert found.best_value == brute > -1e9


@pytest.mark.parametrize("kind", ["bollinger_scalp", "trend_swing"])
def test_evaluation_of_a_signal_strategy_equals_manage_py_backtest(eth, kind) -> None:
    part = eth.slice(0, 3000)
    params = {"fast": 15, "slow": 60} if kind == "trend_swing" else {"bb_std": 2.5}
    optimizer = ParameterOptimizer(strategy=kind, objective="total_return", stake=500, cash=8000)
    for leverage in (1, 3):
        found = optimizer.evaluate({**params, "leverage": leverage}, part)
        reference = backtest_series(
            strategy=kind,
            params=params,
            series=[part],
            fee=0.0004,
            stake=500,
            cash=8000,
            leverage=leverage,
            slippage="none",
        ).results[0]
        assert found.files[0].metrics == reference.metrics
        assert found.value == reference.metrics.total_return != 0


def test_two_files_score_the_mean_of_each_files_objective(eth, btc) -> None:
    optimizer = ParameterOptimizer(strategy="trend_swing", objective="sharpe")
    params = {"fast": 12, "slow": 40, "breakout": 30}
    a, b = eth.slice(0, 2000), btc.slice(500, 2500)
    both = optimizer.evaluate(params, [a, b])
    one, two = optimizer.evaluate(params, a).value, optimizer.evaluate(params, b).value
    assert both.value == (one + two) / 2 and one != two
    assert both.by_file() == {"ETHUSDT-1h": one, "BTCUSDT-1h": two}
    plain = both.plain()
    assert plain["files"]["BTCUSDT-1h"]["objective"] == two
    trades = [plain["files"][f]["n_trades"] for f in ("ETHUSDT-1h", "BTCUSDT-1h")]
    assert plain["n_trades"] == sum(trades) and plain["sharpe"] == (one + two) / 2
    refused = optimizer.evaluate({"fast": 50, "slow": 40}, [a, b])
    assert refused.value == -1e9 and refused.plain()["files"]["ETHUSDT-1h"] == {"objective": -1e9}


WF = {"train": 2000, "test": 1000, "warmup": 200}


def test_walk_forward_over_two_files_uses_the_candles_they_share(eth, btc) -> None:
    optimizer = ParameterOptimizer(strategy="trend_swing", trials=4, batch=2, seed=1)
    report = optimizer.walk_forward([btc, eth], **WF)
    assert len(report.windows) == 3  # 6,000 shared candles: btc's first 500 are dropped
    assert report.windows == optimizer.walk_forward([btc.slice(500), eth], **WF).windows
    first = report.windows[0]
    assert set(first.out_of_sample_by_file) == {"BTCUSDT-1h", "ETHUSDT-1h"}
    assert first.out_of_sample == sum(first.out_of_sample_by_file.values()) / 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda k: replace(k, interval="4h"), r"all data files must have one interval"),
        (
            lambda k: _drop(k, 3000),
            r"same candles in their common span .*: BTCUSDT-1h has a candle",
        ),
        (lambda k: k.slice(0, 10), "share no candles"),
    ],
    ids=["interval", "gap", "disjoint"],
)
def test_files_that_do_not_line_up_are_refused_in_one_line(eth, btc, change, message) -> None:
    with pytest.raises(OptimizerError, match=message) as failure:
        align_series([eth.slice(1000), change(btc)])
    assert "\n" not in str(failure.value)
    with pytest.raises(OptimizerError, match="ETHUSDT-1h is given twice"):
        align_series([eth, eth])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"space": {"bb_std": [2]}}, r"unknown parameter\(s\) in the space: bb_std \(trend_swing"),
        ({"space": {"stop_atr": [1, 25]}}, "stop_atr must be <= 20.0, got 25"),
        ({"space": {"breakout": {"low": 1, "high": 9}}}, "breakout must be >= 2, got 1"),
        ({"space": {"fast": [2.5]}}, "fast must be an integer, got 2.5"),
        ({"space": {"risk_per_trade": [0.01]}}, "risk_per_trade sizes from a fixed stop"),
        ({"space": None, "method": "grid"}, "a grid search needs a space"),
        ({"strategy": "signal"}, "'signal' cannot be optimised: it acts on external signals"),
        ({"strategy": "martingale"}, r"unknown strategy 'martingale' \(known: .*trend_swing"),
    ],
)
def test_bad_space_of_a_signal_strategy_is_refused_in_one_line(kwargs, message) -> None:
    with pytest.raises(OptimizerError, match=message) as failure:
        ParameterOptimizer(**{"strategy": "trend_swing", **kwargs})
    assert "\n" not in str(failure.value)


def test_a_kind_registered_later_is_searched_without_touching_the_optimizer(
    eth, monkeypatch
) -> None:
    late = type("LateSwing", (TrendSwing,), {"kind": "late_swing"})
    monkeypatch.setitem(SCHEMAS, "late_swing", replace(SCHEMAS["trend_swing"], kind="late_swing"))
    monkeypatch.setitem(STRATEGIES, "late_swing", late)
    assert "late_swing" in backtestable_kinds()
    assert default_space("late_swing") == default_space("trend_swing")
    part = eth.slice(0, 1500)
    found = ParameterOptimizer(strategy="late_swing", trials=3).search(part)
    same = ParameterOptimizer(strategy="trend_swing", trials=3).search(part)
    assert found.best_value == same.best_value > -1e9


@pytest.mark.parametrize(
    "risk",
    [
        {"risk_per_trade": 0.01, "leverage": 3},
        {"risk_per_trade": 0.01, "leverage": 3, "max_exposure": 2000},
        {"risk_per_trade": 0.05, "leverage": 2},  # the leverage cap binds
    ],
)
def test_risk_sized_notional_is_what_a_bots_risk_gate_sizes(risk) -> None:
    """One sizing rule: the optimiser scores the notional a bot with these settings trades."""
    from decimal import Decimal

    from apps.risk.domain.gate import EntryIntent, RiskContext
    from apps.risk.domain.sizing import InstrumentFilters
    from apps.trading.domain.profile import BotProfile

    profile = BotProfile(
        bot_key="b1",
        strategy_kind="ema_cross",
        leverage=int(risk["leverage"]),
        risk_per_trade=Decimal(str(risk["risk_per_trade"])),
        max_exposure=Decimal(str(risk.get("max_exposure", 10**9))),
    )
    equity = Decimal(10000)
    gate = profile.cycle_config(equity).gate
    intent = EntryIntent("BTCUSDT", "LONG", Decimal(100), Decimal(98), datetime.now(UTC))
    decision = gate.evaluate(
        intent, RiskContext(equity=equity, filters=InstrumentFilters(Decimal("0.001")))
    )
    assert decision.allowed, decision.reasons
    ours = position_notional(risk, stake=1000.0, cash=10000.0, stop_loss=0.02)
    assert ours == pytest.approx(float(decision.notional), abs=0.1)
