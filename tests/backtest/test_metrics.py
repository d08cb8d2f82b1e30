"""Metrics formulas on hand-checked equity curves and trades."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from apps.backtest.research.domain.kernel import (
    REASON_LIQUIDATION,
    REASON_SIGNAL,
    REASON_STOP_LOSS,
    REASON_TAKE_PROFIT,
    TradeLog,
)
from apps.backtest.research.domain.metrics import (
    avg_slippage_bps,
    compute_metrics,
    monthly_returns,
    periods_per_year,
    trade_stats,
)

DAY = 86_400_000


def _trades(pnl, entry, exit_, reasons):
    n = len(pnl)
    f = np.ones(n)
    return TradeLog(
        entry_index=np.asarray(entry, np.int64),
        exit_index=np.asarray(exit_, np.int64),
        entry_price=f,
        exit_price=f,
        quantity=f,
        reason=np.asarray(reasons, np.int8),
        pnl=np.asarray(pnl, float),
        fees=np.zeros(n),
        entry_fee=np.zeros(n),
    )


def test_metrics_on_a_known_curve() -> None:
    equity = np.array([100.0, 110.0, 99.0, 121.0])
    open_time = np.arange(4, dtype=np.int64) * DAY
    trades = _trades(
        [10.0, -11.0, 22.0], [0, 1, 2], [1, 2, 3], [REASON_SIGNAL, REASON_STOP_LOSS, REASON_SIGNAL]
    )
    m = compute_metrics(
        equity=equity,
        open_time=open_time,
        interval_ms=DAY,
        trades=trades,
        initial_capital=100.0,
        first_open=50.0,
        last_close=60.0,
    )
    assert m.total_return == pytest.approx(0.21)
    assert m.cagr == pytest.approx(1.21 ** (365 / 4) - 1)
    assert m.max_drawdown == pytest.approx(0.1)  # 110 -> 99
    r = np.array([0.0, 0.1, -0.1, 121 / 99 - 1])
    assert m.sharpe == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(365))
    assert m.sortino == pytest.approx(
        r.mean() / math.sqrt(np.mean(np.minimum(r, 0) ** 2)) * math.sqrt(365)
    )
    assert m.calmar == pytest.approx(m.cagr / 0.1)
    assert m.win_rate == pytest.approx(2 / 3)
    assert m.profit_factor == pytest.approx(32 / 11)
    assert m.profit_loss_ratio == pytest.approx(16 / 11)
    assert m.expectancy == pytest.approx(7.0)
    assert m.n_trades == 3
    assert m.exposure == pytest.approx((1 + 2 + 1) / 4)  # signal exits exclude the exit candle
    assert m.buy_and_hold_return == pytest.approx(0.2)
    assert m.final_equity == 121.0


def test_metrics_without_trades() -> None:
    equity = np.full(10, 1000.0)
    m = compute_metrics(
        equity=equity,
        open_time=np.arange(10, dtype=np.int64) * 60_000,
        interval_ms=60_000,
        trades=TradeLog.empty(),
        initial_capital=1000.0,
        first_open=1.0,
        last_close=1.0,
    )
    assert (m.total_return, m.sharpe, m.max_drawdown, m.n_trades) == (0.0, 0.0, 0.0, 0)
    # Not defined without a trade (the PerformanceMonitor says the same): None, not a made-up 0.
    assert (m.win_rate, m.profit_factor, m.profit_loss_ratio, m.expectancy, m.calmar) == (
        None,
        None,
        None,
        None,
        None,
    )


def test_monthly_returns_use_month_end_equity() -> None:
    # 2024-01-30, 2024-01-31, 2024-02-01, 2024-03-01 (UTC)
    start = 1_706_572_800_000
    open_time = np.array([start, start + DAY, start + 2 * DAY, start + 31 * DAY], np.int64)
    equity = np.array([105.0, 110.0, 99.0, 108.9])
    months = monthly_returns(equity, open_time, 100.0)
    assert list(months) == ["2024-01", "2024-02", "2024-03"]
    assert months["2024-01"] == pytest.approx(0.1)
    assert months["2024-02"] == pytest.approx(-0.1)
    assert months["2024-03"] == pytest.approx(0.1)


def test_periods_per_year() -> None:
    assert periods_per_year(60_000) == 525_600
    assert periods_per_year(3_600_000) == 8_760


def test_monthly_returns_skip_months_without_candles() -> None:
    jan31, mar1 = 1_706_659_200_000, 1_709_251_200_000
    months = monthly_returns(np.array([110.0, 121.0]), np.array([jan31, mar1], np.int64), 100.0)
    assert list(months) == ["2024-01", "2024-03"]
    assert months["2024-03"] == pytest.approx(0.1)


def test_trade_stats_split_by_side_and_average_the_market_fills_slippage() -> None:
    base = _trades(
        [30.0, -10.0, -100.0],
        [0, 2, 4],
        [1, 3, 5],
        [REASON_TAKE_PROFIT, REASON_STOP_LOSS, REASON_LIQUIDATION],
    )
    log = replace(
        base,
        side=np.array([1, -1, 1], np.int8),
        entry_slippage_bps=np.array([2.0, 1.0, 4.0]),
        exit_slippage_bps=np.array([0.0, 3.0, 0.0]),
        funding=np.array([0.5, -0.25, 0.0]),
    )
    # market fills: the three entries and the stop exit (a take-profit is a limit order, a
    # liquidation is not ours): (2 + 1 + 4 + 3) / 4
    assert avg_slippage_bps(log) == 2.5
    longs = trade_stats(log, log.sides() > 0)
    assert longs["trades"] == 2 and longs["pnl"] == -70.0 and longs["win_rate"] == 0.5
    assert longs["avg_slippage_bps"] == 3.0 and longs["funding_paid"] == 0.5
    assert longs["exit_reasons"]["liquidation"] == 1 and longs["exit_reasons"]["take_profit"] == 1
    shorts = trade_stats(log, log.sides() < 0)
    assert shorts["trades"] == 1 and shorts["avg_slippage_bps"] == 2.0
    assert shorts["profit_factor"] == 0.0 and shorts["funding_paid"] == -0.25
    metrics = compute_metrics(
        equity=np.full(6, 1000.0),
        open_time=np.arange(6, dtype=np.int64) * DAY,
        interval_ms=DAY,
        trades=log,
        initial_capital=1000.0,
        first_open=1.0,
        last_close=1.0,
    )
    assert (metrics.n_long, metrics.n_short, metrics.liquidations) == (2, 1, 1)
    assert metrics.avg_slippage_bps == 2.5
