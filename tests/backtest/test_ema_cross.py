"""ema_cross: the engine against an independent per-candle reference implementation."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.backtest.research.domain.ema_cross import EmaCrossParams, ema_cross_trades
from apps.backtest.research.domain.engine import backtest_ema_cross
from apps.backtest.research.domain.kernel import EXIT_REASONS
from apps.backtest.research.domain.synthetic import synthetic_candles

# The shared market data sits next to the project root (see tests/conftest.py).
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "futures"


# --- the reference: one candle at a time, literally following the definition ---------------


@dataclass(frozen=True)
class RefTrade:
    entry_index: int
    exit_index: int
    entry_price: float
    exit_price: float
    quantity: float
    reason: str
    pnl: float
    fees: float


def reference_ema_cross(o, h, lo, c, p: EmaCrossParams) -> list[RefTrade]:
    o, h, lo, c = (list(map(float, a)) for a in (o, h, lo, c))
    n = len(c)
    warmup = p.slow if p.warmup is None else p.warmup
    a_fast, a_slow = 2 / (p.fast + 1), 2 / (p.slow + 1)
    fast: list[float] = []
    slow: list[float] = []
    for i in range(n):
        if i == 0:
            fast.append(c[0])
            slow.append(c[0])
        else:
            fast.append(a_fast * c[i] + (1 - a_fast) * fast[i - 1])
            slow.append(a_slow * c[i] + (1 - a_slow) * slow[i - 1])

    trades: list[RefTrade] = []
    position = None  # (entry_index, entry_price, quantity)
    pending = None  # "buy" / "sell" at this candle's open

    def close_position(i: int, price: float, reason: str) -> None:
        entry_index, entry_price, qty = position
        maker = p.fee if p.maker_fee is None else p.maker_fee  # a take-profit rests: maker
        exit_fee = maker if reason == "take_profit" else p.fee
        fees = p.fee * (qty * entry_price) + exit_fee * (qty * price)
        trades.append(
            RefTrade(
                entry_index,
                i,
                entry_price,
                price,
                qty,
                reason,
                qty * (price - entry_price) - fees,
                fees,
            )
        )

    for i in range(n):
        if pending == "buy":
            position = (i, o[i], p.stake / o[i])
        elif pending == "sell":
            close_position(i, o[i], "signal")
            position = None
        pending = None
        if position is not None:
            entry_price = position[1]
            stop = entry_price * (1 - p.stop_loss) if p.stop_loss is not None else None
            target = entry_price * (1 + p.take_profit) if p.take_profit is not None else None
            if stop is not None and lo[i] <= stop:
                close_position(i, min(o[i], stop), "stop_loss")
                position = None
            elif target is not None and h[i] >= target:
                close_position(i, max(o[i], target), "take_profit")
                position = None
        if i >= 1 and i >= warmup and i < n - 1:
            cross_up = fast[i - 1] <= slow[i - 1] and fast[i] > slow[i]
            cross_down = fast[i - 1] >= slow[i - 1] and fast[i] < slow[i]
            if cross_up and position is None:
                pending = "buy"
            elif cross_down and position is not None:
                pending = "sell"
    if position is not None:
        close_position(n - 1, c[n - 1], "end")
    return trades


def assert_same_trades(o, h, lo, c, params: EmaCrossParams) -> int:
    expected = reference_ema_cross(o, h, lo, c, params)
    for method in ("batch", "events"):
        log = ema_cross_trades(
            np.asarray(o, float),
            np.asarray(h, float),
            np.asarray(lo, float),
            np.asarray(c, float),
            params,
            method=method,
        )
        got = [
            RefTrade(
                int(ei),
                int(xi),
                float(ep),
                float(xp),
                float(q),
                EXIT_REASONS[r],
                float(pn),
                float(fe),
            )
            for ei, xi, ep, xp, q, r, pn, fe in zip(
                log.entry_index,
                log.exit_index,
                log.entry_price,
                log.exit_price,
                log.quantity,
                log.reason,
                log.pnl,
                log.fees,
                strict=True,
            )
        ]
        assert len(got) == len(expected), (method, params)
        for g, e in zip(got, expected, strict=True):
            assert (g.entry_index, g.exit_index, g.reason) == (
                e.entry_index,
                e.exit_index,
                e.reason,
            ), (method, params, g, e)
            assert g.entry_price == e.entry_price and g.exit_price == e.exit_price, (g, e)
            assert math.isclose(g.quantity, e.quantity, rel_tol=1e-12)
            tol = 1e-9 * params.stake
            assert math.isclose(g.pnl, e.pnl, rel_tol=1e-9, abs_tol=tol), (g, e)
            assert math.isclose(g.fees, e.fees, rel_tol=1e-9, abs_tol=tol), (g, e)
    return len(expected)


PARAM_SETS = [
    EmaCrossParams(fast=12, slow=26, stop_loss=0.02, take_profit=0.04),
    EmaCrossParams(fast=5, slow=20, warmup=50, stop_loss=0.01, take_profit=None, fee=0.001),
    EmaCrossParams(fast=9, slow=21, stop_loss=None, take_profit=0.015, fee=0.0),
    EmaCrossParams(fast=20, slow=50, stop_loss=None, take_profit=None),
    EmaCrossParams(fast=3, slow=8, warmup=0, stop_loss=0.003, take_profit=0.003),
]


# --- real shipped data --------------------------------------------------------------------


def _load(name: str, start: int, count: int):
    from apps.market.data import load_klines

    path = DATA / f"{name}.csv.gz"
    if not path.exists():
        pytest.skip(f"{path} not available")
    k = load_klines(path)
    s = slice(start, start + count)
    return k.open[s], k.high[s], k.low[s], k.close[s]


@pytest.mark.parametrize("params", PARAM_SETS)
def test_engine_on_btcusdt_1h_slice_matches_reference(params: EmaCrossParams) -> None:
    # The first candles are the flat 10000.0 launch period: ties between the EMAs are exercised.
    n = assert_same_trades(*_load("BTCUSDT-1h", 0, 20_000), params)
    assert n > 10


@pytest.mark.parametrize("params", PARAM_SETS[:3])
def test_engine_on_ethusdt_5m_slice_matches_reference(params: EmaCrossParams) -> None:
    n = assert_same_trades(*_load("ETHUSDT-5m", 30_000, 20_000), params)
    assert n > 10


# --- synthetic data ------------------------------------------------------------------------


@pytest.mark.parametrize("params", PARAM_SETS)
def test_engine_on_synthetic_1m_matches_reference(params: EmaCrossParams) -> None:
    c = synthetic_candles(30_000, seed=7)
    n = assert_same_trades(c.open, c.high, c.low, c.close, params)
    assert n > 10


# --- random small series -------------------------------------------------------------------


def _random_candles(rng: np.random.Generator, n: int, tick: float, gaps: bool):
    """Prices on a coarse tick grid so that exact touches, ties and gaps are common."""
    close = np.maximum(100.0 + np.cumsum(rng.integers(-3, 4, size=n)) * tick, 10 * tick)
    open_ = np.empty(n)
    open_[0] = close[0]
    open_[1:] = close[:-1]
    if gaps:
        open_ = np.maximum(
            open_ + rng.integers(-3, 4, size=n) * tick * (rng.random(n) < 0.3), 5 * tick
        )
    high = np.maximum(open_, close) + rng.integers(0, 4, size=n) * tick
    low = np.maximum(np.minimum(open_, close) - rng.integers(0, 4, size=n) * tick, tick)
    return open_, high, low, close


fraction = st.sampled_from([None, 0.001, 0.005, 0.01, 0.02, 0.03, 0.05, 0.2, 0.9])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 80),
    fast=st.integers(1, 8),
    slow=st.integers(1, 15),
    warmup=st.one_of(st.none(), st.integers(0, 20)),
    stop_loss=fraction,
    take_profit=st.sampled_from([None, 0.001, 0.005, 0.01, 0.02, 0.05, 0.5, 3.0]),
    fee=st.sampled_from([0.0, 0.0004, 0.01]),
    gaps=st.booleans(),
)
def test_engine_on_random_series_matches_reference(
    seed, n, fast, slow, warmup, stop_loss, take_profit, fee, gaps
) -> None:
    rng = np.random.default_rng(seed)
    candles = _random_candles(rng, n, tick=1.0, gaps=gaps)
    params = EmaCrossParams(
        fast=fast,
        slow=slow,
        warmup=warmup,
        stop_loss=stop_loss,
        take_profit=take_profit,
        stake=100.0,
        fee=fee,
    )
    assert_same_trades(*candles, params)


def test_random_series_cover_the_bracket_edge_cases() -> None:
    """Many random series, and the edge cases named in the spec are actually exercised."""
    rng = np.random.default_rng(12345)
    seen = {
        "gap_through_stop": 0,
        "stop_and_target_same_candle": 0,
        "stop_on_entry_candle": 0,
        "signal_exit_while_stop_touched": 0,
        "gap_over_target": 0,
        "end": 0,
    }
    for _ in range(600):
        n = int(rng.integers(5, 80))
        o, h, lo, c = _random_candles(rng, n, tick=1.0, gaps=True)
        params = EmaCrossParams(
            fast=int(rng.integers(1, 5)),
            slow=int(rng.integers(3, 10)),
            warmup=int(rng.integers(0, 5)),
            stop_loss=float(rng.choice([0.01, 0.02, 0.03])),
            take_profit=float(rng.choice([0.01, 0.02, 0.04])),
            stake=100.0,
            fee=0.0004,
        )
        assert_same_trades(o, h, lo, c, params)
        for t in reference_ema_cross(o, h, lo, c, params):
            i = t.exit_index
            stop = t.entry_price * (1 - params.stop_loss)
            target = t.entry_price * (1 + params.take_profit)
            if t.reason == "stop_loss":
                seen["gap_through_stop"] += o[i] < stop
                seen["stop_and_target_same_candle"] += h[i] >= target
                seen["stop_on_entry_candle"] += i == t.entry_index
            if t.reason == "take_profit":
                seen["gap_over_target"] += o[i] > target
            if t.reason == "signal":
                seen["signal_exit_while_stop_touched"] += lo[i] <= stop
            seen["end"] += t.reason == "end"
    assert all(count > 0 for count in seen.values()), seen


# --- the public entry point ----------------------------------------------------------------


def test_backtest_result_equity_ends_at_capital_plus_pnl() -> None:
    c = synthetic_candles(20_000, seed=3)
    result = backtest_ema_cross(c, EmaCrossParams(), initial_capital=10_000.0)
    assert len(result.trades) > 0
    assert math.isclose(result.equity[-1], 10_000.0 + result.trades.pnl.sum(), rel_tol=1e-12)
    records = result.trade_records()
    assert records[0].symbol == "SYNUSDT"
    assert records[0].entry_time == int(c.open_time[records[0].entry_index])
    assert {r.exit_reason for r in records} <= set(EXIT_REASONS)
    assert result.metrics.n_trades == len(records)
    money = records[0].money_fields()
    assert money["entry_price"] == Decimal(repr(records[0].entry_price))
    assert float(money["pnl"]) == records[0].pnl


def test_engine_with_short_batch_horizon_matches_reference(monkeypatch) -> None:
    from apps.backtest.research.domain import kernel

    monkeypatch.setattr(kernel, "_MIN_HORIZON", 2)
    c = synthetic_candles(30_000, seed=11)
    for params in PARAM_SETS:
        assert_same_trades(c.open, c.high, c.low, c.close, params)


def test_equity_curve_equals_per_candle_mark_to_market() -> None:
    c = synthetic_candles(5_000, seed=5)
    params = EmaCrossParams(fast=5, slow=13, fee=0.001)
    result = backtest_ema_cross(c, params, initial_capital=5_000.0)
    realized, expected = 0.0, []
    trades = reference_ema_cross(c.open, c.high, c.low, c.close, params)
    for t in range(len(c)):
        realized += sum(tr.pnl for tr in trades if tr.exit_index == t)
        open_value = sum(
            tr.quantity * (c.close[t] - tr.entry_price) - params.fee * tr.quantity * tr.entry_price
            for tr in trades
            if tr.entry_index <= t < tr.exit_index
        )
        expected.append(5_000.0 + realized + open_value)
    np.testing.assert_allclose(result.equity, expected, rtol=1e-12)


def test_engine_trades_identical_with_and_without_numba() -> None:
    from apps.market.domain import indicators

    assert indicators.numba_available(), "numba is pinned in requirements/base.txt"
    c = synthetic_candles(100_000, seed=9)
    with_numba = ema_cross_trades(c.open, c.high, c.low, c.close, PARAM_SETS[0])
    indicators.set_numba_enabled(False)
    try:
        without = ema_cross_trades(c.open, c.high, c.low, c.close, PARAM_SETS[0])
    finally:
        indicators.set_numba_enabled(True)
    for field in with_numba.__dataclass_fields__:
        assert np.array_equal(getattr(with_numba, field), getattr(without, field)), field
