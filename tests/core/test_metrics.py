"""The seed's performance measures are defined once: a backtest and the PerformanceMonitor give
the same figures, under the same names, for the same trades."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import numpy as np
import pytest

from apps.backtest.research.domain.kernel import TradeLog
from apps.backtest.research.domain.metrics import compute_metrics, trade_stats
from apps.core.domain.metrics import trade_figures
from apps.monitoring.domain.performance import ClosedTrade, compute_stats

PNLS = ["30", "-10", "0", "-20", "-5", "45"]


def _log(pnls: list[float]) -> TradeLog:
    n = len(pnls)
    log = TradeLog.empty()
    fields = {name: getattr(log, name) for name in log.__dataclass_fields__}
    for name, value in fields.items():
        if isinstance(value, np.ndarray):
            fields[name] = np.zeros(n, dtype=value.dtype)
    fields["pnl"] = np.array(pnls, dtype=np.float64)
    fields["entry_index"] = np.arange(n, dtype=fields["entry_index"].dtype)
    fields["exit_index"] = np.arange(n, dtype=fields["exit_index"].dtype) + 1
    return TradeLog(**fields)


def test_decimal_and_float_give_the_same_figures() -> None:
    exact = trade_figures([D(p) for p in PNLS], zero=D(0))
    fast = trade_figures([float(p) for p in PNLS], zero=0.0)
    assert (exact.trades, exact.wins, exact.losses) == (6, 2, 3)
    assert exact.win_rate == D(2) / D(6)
    assert exact.profit_loss_ratio == (D(75) / 2) / (D(35) / 3)
    assert exact.profit_factor == D(75) / D(35)
    assert exact.expectancy == D(40) / D(6)
    assert (exact.max_consecutive_losses, exact.current_losing_streak) == (2, 0)
    for name in ("win_rate", "profit_loss_ratio", "profit_factor", "expectancy", "avg_loss"):
        assert getattr(fast, name) == pytest.approx(float(getattr(exact, name))), name
        assert isinstance(getattr(fast, name), float)
        assert isinstance(getattr(exact, name), D)


def test_undefined_figures_are_none_in_both_number_types() -> None:
    for zero in (D(0), 0.0):
        empty = trade_figures([], zero=zero)
        assert (empty.win_rate, empty.expectancy, empty.profit_factor) == (None, None, None)
        winners = trade_figures([zero + 5, zero + 1], zero=zero)
        # No loss: the profit factor and profit/loss ratio would be infinite -> not defined.
        assert winners.profit_factor is None and winners.profit_loss_ratio is None
        assert winners.win_rate == 1
        losers = trade_figures([zero - 5], zero=zero)
        assert losers.profit_factor == 0 and losers.profit_loss_ratio == 0


def test_backtest_and_performance_monitor_agree_on_the_same_trades() -> None:
    floats = [float(p) for p in PNLS]
    n = len(floats)
    backtest = compute_metrics(
        equity=1000.0 + np.cumsum(floats),
        open_time=np.arange(n, dtype=np.int64) * 3_600_000,
        interval_ms=3_600_000,
        trades=_log(floats),
        initial_capital=1000.0,
        first_open=1.0,
        last_close=1.0,
    )
    by_side = trade_stats(_log(floats))
    start = datetime(2025, 1, 1, tzinfo=UTC)
    monitor = compute_stats(
        [
            ClosedTrade(
                bot=1,
                mode="scalp",
                net_pnl=D(p),
                roi=None,
                entry_time=start + timedelta(hours=i),
                exit_time=start + timedelta(hours=i + 1),
            )
            for i, p in enumerate(PNLS)
        ],
        starting_equity=D(1000),
    )
    for name in ("win_rate", "profit_loss_ratio", "profit_factor", "expectancy"):
        assert getattr(backtest, name) == pytest.approx(float(getattr(monitor, name))), name
    for name in ("win_rate", "profit_factor", "expectancy"):
        assert by_side[name] == pytest.approx(float(getattr(monitor, name))), name
    assert backtest.n_trades == monitor.trades
    # Drawdown: the backtest's fraction of the running equity peak, the monitor's quote amount
    # of the PnL curve from the same peak (1,030 -> 995 in this series).
    assert float(monitor.max_drawdown) == pytest.approx(35.0)
    assert backtest.max_drawdown == pytest.approx(35.0 / 1030.0)
    assert float(monitor.max_drawdown_pct) == pytest.approx(3.5)
