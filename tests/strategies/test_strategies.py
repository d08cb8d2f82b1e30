"""Built-in strategies on real candles: signals, parity with the backtest, live `decide`."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from apps.backtest.research.domain.ema_cross import (
    EmaCrossParams,
    ema_cross_signals,
    ema_cross_trades,
)
from apps.exchange.domain.types import Side
from apps.market.data import Klines, load_klines
from apps.strategies.domain.base import (
    OHLCV,
    Action,
    Decision,
    PositionView,
    SignalFrame,
    Strategy,
    StrategyError,
    decide,
)
from apps.strategies.domain.ema_cross import EmaCross
from apps.strategies.domain.params import SCHEMAS, ParameterError
from apps.strategies.domain.registry import STRATEGIES, build_strategy
from apps.strategies.domain.trend_swing import donchian

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "futures"
CANDLE_KINDS = ("ema_cross", "bollinger_scalp", "trend_swing")


def _load(name: str) -> Klines:
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"the shared market data is not at {path}")
    return load_klines(path)


@pytest.fixture(scope="module")
def btc_1h() -> Klines:
    return _load("BTCUSDT-1h.csv.gz")


@pytest.fixture(scope="module")
def eth_5m() -> Klines:
    return _load("ETHUSDT-5m.csv.gz")


@pytest.fixture(scope="module", params=["btc_1h", "eth_5m"])
def candles(request: pytest.FixtureRequest) -> Klines:
    return request.getfixturevalue(request.param)


def same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind == "f":
        return (a == b) | (np.isnan(a) & np.isnan(b))
    return a == b


# --- every built-in strategy ---------------------------------------------------------------


@pytest.mark.parametrize("kind", CANDLE_KINDS)
def test_strategy_with_real_candles_produces_entries_and_exits(kind: str, candles) -> None:
    frame = build_strategy(kind).evaluate(candles)
    assert len(frame) == len(candles)
    entries = frame.enter_long | frame.enter_short
    assert frame.enter_long.sum() > 10
    assert (frame.exit_long | frame.exit_short).sum() > 10
    assert not (frame.enter_long & frame.enter_short).any()
    close = candles.close
    if frame.stop_price is not None:
        assert np.isfinite(frame.stop_price[entries]).all()
        assert np.isnan(frame.stop_price[~entries]).all()
        assert (frame.stop_price[frame.enter_long] < close[frame.enter_long]).all()
        assert (frame.stop_price[frame.enter_short] > close[frame.enter_short]).all()
    if frame.take_profit is not None:
        assert (frame.take_profit[frame.enter_long] > close[frame.enter_long]).all()
        assert (frame.take_profit[frame.enter_short] < close[frame.enter_short]).all()


@pytest.mark.parametrize("kind", ("bollinger_scalp", "trend_swing"))
def test_strategy_with_both_directions_produces_short_entries(kind: str, btc_1h) -> None:
    assert build_strategy(kind).evaluate(btc_1h).enter_short.sum() > 10


@pytest.mark.parametrize("kind", CANDLE_KINDS)
def test_decide_with_rolling_window_agrees_with_vectorised_last_row(kind: str, candles) -> None:
    strategy = build_strategy(kind)
    full = strategy.evaluate(candles)
    columns = full.columns()
    window = strategy.warmup_candles
    entries = np.flatnonzero(full.enter_long | full.enter_short)
    picks = np.concatenate(
        [
            np.linspace(window, len(candles) - 1, 40).astype(int),
            entries[entries >= window][:: max(1, entries.size // 40)],
        ]
    )
    for t in picks.tolist():
        live = OHLCV.of(candles, t - window + 1, t + 1)
        last = strategy.evaluate(live).columns()
        for name, values in columns.items():
            assert same(values[t : t + 1], last[name][-1:]).all(), (kind, t, name)
        decision = strategy.decide(live)
        flat = full.enter_long[t] != full.enter_short[t]
        assert (decision is not None) == bool(flat)
        if decision is not None:
            assert decision.index == window - 1
            assert decision.open_time == int(candles.open_time[t])
            assert decision.price == Decimal(repr(float(candles.close[t])))
            long = bool(full.enter_long[t])
            assert decision.action is (Action.ENTER_LONG if long else Action.ENTER_SHORT)
            if full.stop_price is not None:
                assert decision.stop_price == Decimal(repr(float(full.stop_price[t])))


# --- ema_cross: the backtest reference ------------------------------------------------------


def reference_crosses(close: np.ndarray, fast: int, slow: int, warmup: int):
    """A per-candle restatement of apps/backtest/research/domain/ema_cross.py's definition."""
    a_f, a_s = 2 / (fast + 1), 2 / (slow + 1)
    f = s = float(close[0])
    prev_f = prev_s = f
    ups, downs = [], []
    for i in range(1, close.size):
        prev_f, prev_s = f, s
        f = a_f * float(close[i]) + (1 - a_f) * f
        s = a_s * float(close[i]) + (1 - a_s) * s
        if i < warmup:
            continue
        if prev_f <= prev_s and f > s:
            ups.append(i)
        if prev_f >= prev_s and f < s:
            downs.append(i)
    return np.array(ups, dtype=np.int64), np.array(downs, dtype=np.int64)


@pytest.mark.parametrize("params", [{}, {"fast": 5, "slow": 35, "warmup": 50}])
def test_ema_cross_with_real_candles_matches_backtest_reference_exactly(params, btc_1h) -> None:
    strategy = EmaCross(params)
    p = strategy.params
    frame = strategy.evaluate(btc_1h)
    ups, downs = ema_cross_signals(btc_1h.close, fast=p["fast"], slow=p["slow"], warmup=p["warmup"])
    assert np.array_equal(np.flatnonzero(frame.enter_long), ups)
    assert np.array_equal(np.flatnonzero(frame.exit_long), downs)
    ref_ups, ref_downs = reference_crosses(btc_1h.close[:8000], p["fast"], p["slow"], p["warmup"])
    head = strategy.evaluate(OHLCV.of(btc_1h, 0, 8000))
    assert np.array_equal(np.flatnonzero(head.enter_long), ref_ups)
    assert np.array_equal(np.flatnonzero(head.exit_long), ref_downs)
    # Every backtest trade enters on the open after one of our enter_long candles.
    trades = ema_cross_trades(
        btc_1h.open,
        btc_1h.high,
        btc_1h.low,
        btc_1h.close,
        EmaCrossParams(fast=p["fast"], slow=p["slow"], warmup=p["warmup"]),
    )
    assert len(trades) > 0
    assert frame.enter_long[trades.entry_index - 1].all()
    assert not frame.enter_short.any() and not frame.exit_short.any()


def test_ema_cross_with_entry_signal_sets_fractional_stop_and_target(btc_1h) -> None:
    strategy = EmaCross({"sl": 0.01, "tp": 0.03})
    frame = strategy.evaluate(btc_1h)
    i = int(np.flatnonzero(frame.enter_long)[0])
    assert frame.stop_price is not None and frame.take_profit is not None
    assert frame.stop_price[i] == btc_1h.close[i] * 0.99
    assert frame.take_profit[i] == btc_1h.close[i] * 1.03


def test_donchian_with_lookback_excludes_the_current_candle() -> None:
    high = np.array([1.0, 3.0, 2.0, 5.0, 4.0])
    low = np.array([0.5, 2.0, 1.0, 4.0, 3.0])
    upper, lower = donchian(high, low, 2)
    assert np.isnan(upper[:2]).all()
    assert upper[2:].tolist() == [3.0, 3.0, 5.0]
    assert lower[2:].tolist() == [0.5, 1.0, 1.0]


# --- decide with a position, hooks, errors ----------------------------------------------------


def test_decide_with_open_position_returns_its_exit(btc_1h) -> None:
    strategy = build_strategy("trend_swing")
    frame = strategy.evaluate(btc_1h)
    window = strategy.warmup_candles
    t = int(np.flatnonzero(frame.exit_long[window:])[0]) + window
    live = OHLCV.of(btc_1h, t - window + 1, t + 1)
    long = PositionView(Side.BUY, Decimal(30000), Decimal(1))
    short = PositionView(Side.SELL, Decimal(30000), Decimal(1))
    decision = decide(strategy, live, long)
    assert decision is not None and decision.action is Action.EXIT_LONG
    assert decision.side is Side.SELL and not decision.is_entry
    assert decision.stop_price is None
    assert strategy.decide(live, short) is None  # the same candle does not exit a short


class VetoAll(EmaCross):
    def confirm_entry(self, decision: Decision, candles: OHLCV) -> bool:
        return False


class TightStop(EmaCross):
    def custom_stop(self, position, candles, frame) -> Decimal | None:
        return Decimal(repr(float(candles.low[-1])))


def test_decide_with_hooks_vetoes_entries_and_tightens_stops(btc_1h) -> None:
    base = EmaCross()
    frame = base.evaluate(btc_1h)
    t = int(np.flatnonzero(frame.enter_long)[5])
    live = OHLCV.of(btc_1h, t - base.warmup_candles + 1, t + 1)
    assert base.decide(live) is not None
    assert VetoAll().decide(live) is None
    quiet = t + 1 if not frame.exit_long[t + 1] else t + 2
    live = OHLCV.of(btc_1h, quiet - base.warmup_candles + 1, quiet + 1)
    position = PositionView(Side.BUY, Decimal(1), Decimal(1), stop_price=Decimal(1))
    adjusted = TightStop().decide(live, position)
    assert adjusted is not None and adjusted.action is Action.ADJUST_STOP
    assert adjusted.stop_price == Decimal(repr(float(btc_1h.low[quiet])))
    higher = PositionView(Side.BUY, Decimal(1), Decimal(1), stop_price=Decimal(10**9))
    assert TightStop().decide(live, higher) is None


def test_evaluate_with_too_few_or_bad_candles_raises_one_line_strategy_error(btc_1h) -> None:
    strategy = build_strategy("bollinger_scalp")
    with pytest.raises(StrategyError, match="needs at least 21 closed candles, got 10"):
        strategy.evaluate(OHLCV.of(btc_1h, 0, 10))
    window = OHLCV.of(btc_1h, 0, 300)
    close = window.close.copy()
    close[123] = np.nan
    bad = OHLCV(window.open_time, window.open, window.high, window.low, close, window.volume)
    with pytest.raises(StrategyError, match="close of candle 123") as caught:
        strategy.decide(bad)
    assert "\n" not in str(caught.value)
    times = window.open_time.copy()
    times[50] = times[49]
    unordered = OHLCV(times, window.open, window.high, window.low, window.close, window.volume)
    with pytest.raises(StrategyError, match="not increasing at candle 50"):
        strategy.evaluate(unordered)


class Broken(EmaCross):
    def signals(self, candles: OHLCV) -> SignalFrame:
        raise ZeroDivisionError("division by zero")


class WrongLength(EmaCross):
    def signals(self, candles: OHLCV) -> SignalFrame:
        return SignalFrame.empty(3)


def test_evaluate_with_failing_strategy_wraps_error_as_strategy_error(btc_1h) -> None:
    window = OHLCV.of(btc_1h, 0, 400)
    with pytest.raises(StrategyError, match="ema_cross: signals: ZeroDivisionError"):
        Broken().evaluate(window)
    with pytest.raises(StrategyError, match="signals for 3 candles"):
        WrongLength().evaluate(window)


def test_signal_frame_with_mismatched_columns_raises() -> None:
    with pytest.raises(ValueError, match="shape"):
        SignalFrame(*(np.zeros(3, dtype=bool) for _ in range(3)), np.zeros(4, dtype=bool))
    with pytest.raises(ValueError, match="boolean"):
        SignalFrame(*(np.zeros(3, dtype=bool) for _ in range(3)), np.zeros(3))


# --- registry ------------------------------------------------------------------------------


def test_registry_with_every_schema_kind_builds_a_strategy() -> None:
    assert set(STRATEGIES) == set(SCHEMAS)
    for kind in SCHEMAS:
        strategy = build_strategy(kind)
        assert isinstance(strategy, Strategy)
        assert strategy.kind == kind
        assert strategy.params == SCHEMAS[kind].defaults()


def test_registry_with_bad_parameters_raises_parameter_error() -> None:
    with pytest.raises(ParameterError, match="fast"):
        build_strategy("ema_cross", {"fast": 30, "slow": 20})
    with pytest.raises(ParameterError, match="unknown strategy kind"):
        build_strategy("martingale")
    assert build_strategy("trend_swing", {"fast": "10"}).params["fast"] == 10


class VetoBug(EmaCross):
    def confirm_entry(self, decision, candles):
        return candles.close[-1] / 0  # numpy: inf with a warning; a float, not a bool


class VetoRaises(EmaCross):
    def confirm_entry(self, decision, candles):
        raise AttributeError("no such indicator")


class StopAbovePrice(EmaCross):
    def custom_stop(self, position, candles, frame):
        return Decimal(repr(float(candles.close[-1]))) * 2


class StopFloat(EmaCross):
    def custom_stop(self, position, candles, frame):
        return 1.5


def _entry_window(btc_1h) -> OHLCV:
    """A window whose last candle is an ema_cross long entry."""
    strategy = EmaCross()
    frame = strategy.evaluate(OHLCV.of(btc_1h, 0, 2000))
    last = int(np.flatnonzero(frame.enter_long)[-1])
    return OHLCV.of(btc_1h, 0, last + 1)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_optional_hooks_with_bugs_raise_strategy_error_naming_the_hook(btc_1h) -> None:
    window = _entry_window(btc_1h)
    assert EmaCross().decide(window) is not None
    with pytest.raises(StrategyError, match="confirm_entry returned float64, not a bool"):
        VetoBug().decide(window)
    with pytest.raises(StrategyError, match="confirm_entry: AttributeError: no such indicator"):
        VetoRaises().decide(window)
    position = PositionView(Side.BUY, Decimal("0.01"), Decimal(1), Decimal("0.5"))
    with pytest.raises(StrategyError, match=r"custom_stop .* is above the last close"):
        StopAbovePrice().decide(window, position)
    with pytest.raises(StrategyError, match=r"custom_stop returned 1\.5, not a positive Decimal"):
        StopFloat().decide(window, position)
