"""Any registered strategy in the backtest, with the signals live trading computes."""

from __future__ import annotations

import numpy as np
import pytest

from apps.backtest.research.domain.ema_cross import EmaCrossParams
from apps.backtest.research.domain.engine import backtest_ema_cross, backtest_strategy
from apps.backtest.research.domain.funding import apply_funding
from apps.backtest.research.domain.kernel import EXIT_REASONS, TradeLog
from apps.backtest.research.domain.signal_kernel import BookSlippage, ExecutionParams
from apps.market.data import load_klines
from apps.strategies.domain.base import OHLCV
from apps.strategies.domain.bollinger_scalp import BollingerScalp
from apps.strategies.domain.registry import build_strategy

_ETH: list = []


@pytest.fixture
def eth_1h(shared_data):
    if not _ETH:  # read once for the module
        _ETH.append(load_klines(shared_data / "futures" / "ETHUSDT-1h.csv.gz"))
    return _ETH[0]


def test_ema_cross_through_its_signals_equals_the_reference_fast_path(eth_1h) -> None:
    params = {"fast": 12, "slow": 26, "warmup": 200, "sl": 0.02, "tp": 0.04}
    reference = backtest_ema_cross(
        eth_1h,
        EmaCrossParams(fast=12, slow=26, warmup=200, stop_loss=0.02, take_profit=0.04),
        initial_capital=10_000,
    )
    general = backtest_strategy(
        eth_1h,
        build_strategy("ema_cross", params),
        ExecutionParams(stop_loss=0.02, take_profit=0.04),
        initial_capital=10_000,
        frame_levels=False,
    )
    assert len(general.trades) == len(reference.trades) > 500
    for name in ("entry_index", "exit_index", "entry_price", "exit_price", "reason", "pnl"):
        assert np.array_equal(getattr(general.trades, name), getattr(reference.trades, name))
    assert np.array_equal(general.equity, reference.equity)
    assert general.metrics.sharpe == reference.metrics.sharpe


@pytest.mark.parametrize("kind", ["bollinger_scalp", "trend_swing"])
def test_strategy_trades_follow_its_frame_from_the_next_open(eth_1h, kind) -> None:
    strategy = build_strategy(kind)
    frame = strategy.evaluate(OHLCV.of(eth_1h))
    result = backtest_strategy(eth_1h, strategy, ExecutionParams(fee=0.0), initial_capital=10_000)
    t = result.trades
    sides = t.sides()
    assert (sides > 0).sum() > 50 and (sides < 0).sum() > 50
    signal = t.entry_index - 1
    assert np.all(np.where(sides > 0, frame.enter_long[signal], frame.enter_short[signal]))
    assert np.array_equal(t.entry_price, eth_1h.open[t.entry_index])  # no slippage
    stops = t.reason == EXIT_REASONS.index("stop_loss")
    stop_level = frame.stop_price[signal[stops]]
    opens = eth_1h.open[t.exit_index[stops]]
    expected = np.where(
        sides[stops] > 0, np.minimum(opens, stop_level), np.maximum(opens, stop_level)
    )
    assert stops.sum() > 50 and np.array_equal(t.exit_price[stops], expected)
    reasons = {EXIT_REASONS[r] for r in t.reason}
    assert ("trailing" in reasons) == (kind == "trend_swing")
    assert ("take_profit" in reasons) == (kind == "bollinger_scalp")


def test_trades_closed_before_a_cut_do_not_depend_on_later_candles(eth_1h) -> None:
    strategy = build_strategy("trend_swing")
    params = ExecutionParams(slippage=BookSlippage(), leverage=3)
    full = backtest_strategy(eth_1h, strategy, params).trades
    cut = 30_000
    part = backtest_strategy(eth_1h.slice(0, cut), strategy, params).trades
    done = part.exit_index < cut - 1
    assert done.sum() > 100
    for name in ("entry_index", "exit_index", "entry_price", "exit_price", "reason", "side"):
        assert np.array_equal(getattr(part, name)[done], getattr(full, name)[: done.sum()])


def test_confirm_entry_veto_is_honoured_like_live(eth_1h) -> None:
    class Never(BollingerScalp):
        def confirm_entry(self, decision, candles) -> bool:
            return False

    candles = eth_1h.slice(0, 3000)
    assert len(backtest_strategy(candles, BollingerScalp()).trades) > 0
    assert len(backtest_strategy(candles, Never()).trades) == 0


def test_a_short_receives_the_funding_a_long_pays() -> None:
    one = np.array([1], dtype=np.int64)
    log = TradeLog(
        entry_index=np.array([0, 0]),
        exit_index=np.array([2, 2]),
        entry_price=np.array([100.0, 100.0]),
        exit_price=np.array([100.0, 100.0]),
        quantity=np.array([2.0, 2.0]),
        reason=np.array([0, 0], dtype=np.int8),
        pnl=np.zeros(2),
        fees=np.zeros(2),
        entry_fee=np.zeros(2),
        side=np.array([1, -1], dtype=np.int8),
    )
    per_candle = np.zeros(3)
    per_candle[one] = 100.0 * 0.001  # one settlement at 0.1 % in candle 1, close 100
    adjusted, equity, paid = apply_funding(log, np.full(3, 1000.0), per_candle)
    assert paid.tolist() == pytest.approx([0.2, -0.2])
    assert adjusted.pnl.tolist() == pytest.approx([-0.2, 0.2])
    assert adjusted.funding_paid().tolist() == pytest.approx([0.2, -0.2])
    assert equity.tolist() == pytest.approx([1000, 1000, 1000])  # the two cancel out


@pytest.mark.parametrize("kind", ["bollinger_scalp", "trend_swing"])
def test_compiled_loop_equals_the_plain_python_loop_on_real_data(eth_1h, kind) -> None:
    strategy = build_strategy(kind)
    params = ExecutionParams(
        slippage=BookSlippage(), leverage=40, maker_fee=0.0002, intrabar="path", stake=5000
    )
    plain = backtest_strategy(eth_1h, strategy, params, jit=False).trades
    compiled = backtest_strategy(eth_1h, strategy, params, jit=True).trades
    assert len(plain) > 1000 and (plain.reason == EXIT_REASONS.index("liquidation")).any()
    for name in plain.__dataclass_fields__:
        a, b = getattr(plain, name), getattr(compiled, name)
        assert (a is None and b is None) or np.array_equal(a, b), name
