"""The seed's performance measures, defined once.

Backtests (``apps.backtest.research.domain.metrics``), the PerformanceMonitor
(``apps.monitoring.domain.performance``) and A/B reports compute these figures here and nowhere
else, under the seed's names: win rate, profit/loss ratio, profit factor, expectancy, max
drawdown, monthly return, Sharpe.

Trade figures (``trade_figures``), over the net PnL of closed trades in exit order; a *win* has
PnL > 0, a *loss* PnL < 0, a trade at exactly zero is neither but counts in ``trades``:

- ``win_rate = wins / trades``, a fraction in [0, 1];
- ``avg_win = gross_profit / wins``, ``avg_loss = gross_loss / losses`` (``gross_loss`` and
  ``avg_loss`` are <= 0);
- ``profit_loss_ratio`` (the seed's "profit/loss ratio", 2.7 : 1) ``= avg_win / |avg_loss|``
  (0 when there are losses and no wins);
- ``profit_factor = gross_profit / |gross_loss|``;
- ``expectancy = net_pnl / trades``, the average net PnL of one trade;
- ``max_consecutive_losses``: the longest run of losses; ``current_losing_streak``: the run that
  ends with the latest trade (a zero trade ends a run).

A figure that is not defined is ``None``, never infinite and never a made-up 0: every average or
rate without trades; ``avg_win`` without wins; ``avg_loss``, ``profit_loss_ratio`` and
``profit_factor`` without losses (they would be infinite). JSON, the database and people all read
``None`` as "not a number yet".

The figures keep the number type they are given: ``Decimal`` PnL (PerformanceMonitor, money at
the boundary) gives ``Decimal`` figures, ``float`` PnL (backtests) gives ``float`` figures.

Equity figures (float arrays, numpy): ``max_drawdown`` (a positive fraction of the running peak,
the peak starting at the initial capital), ``sharpe_ratio`` and ``sortino_ratio`` of period
returns annualised with ``periods_per_year`` (risk-free rate 0; 0 when the deviation is 0),
``monthly_returns`` (UTC months, month-end equity over the previous month-end).

Pure: no Django, no clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "MS_PER_YEAR",
    "TradeFigures",
    "max_drawdown",
    "monthly_returns",
    "periods_per_year",
    "sharpe_ratio",
    "sortino_ratio",
    "trade_figures",
]

N = TypeVar("N", float, Decimal)

MS_PER_YEAR = 365 * 86_400_000


@dataclass(frozen=True, slots=True)
class TradeFigures(Generic[N]):
    trades: int
    wins: int
    losses: int
    gross_profit: N
    gross_loss: N
    net_pnl: N
    win_rate: N | None
    avg_win: N | None
    avg_loss: N | None
    profit_loss_ratio: N | None
    profit_factor: N | None
    expectancy: N | None
    max_consecutive_losses: int
    current_losing_streak: int


def trade_figures(pnls: Sequence[N], *, zero: N) -> TradeFigures[N]:
    """The trade figures of the module docstring for net PnLs in exit order.

    ``zero`` is ``Decimal(0)`` or ``0.0``: it fixes the number type of the figures (and is what
    the sums of no trade are).
    """
    n = len(pnls)
    gross_profit = gross_loss = net = zero
    wins = losses = longest = run = 0
    for pnl in pnls:
        net += pnl
        if pnl > 0:
            wins += 1
            gross_profit += pnl
            run = 0
        elif pnl < 0:
            losses += 1
            gross_loss += pnl
            run += 1
            longest = max(longest, run)
        else:
            run = 0
    one = zero + 1

    def ratio(numerator: N, count: int) -> N | None:
        return numerator / (one * count) if count else None

    avg_win = ratio(gross_profit, wins)
    avg_loss = ratio(gross_loss, losses)
    return TradeFigures(
        trades=n,
        wins=wins,
        losses=losses,
        gross_profit=gross_profit,
        gross_loss=gross_loss,
        net_pnl=net,
        win_rate=ratio(one * wins, n),
        avg_win=avg_win,
        avg_loss=avg_loss,
        profit_loss_ratio=None if avg_loss is None else (avg_win or zero) / abs(avg_loss),
        profit_factor=None if losses == 0 else gross_profit / abs(gross_loss),
        expectancy=ratio(net, n),
        max_consecutive_losses=longest,
        current_losing_streak=run,
    )


def periods_per_year(interval_ms: int) -> float:
    """How many periods of ``interval_ms`` fit in a 365-day year (crypto trades 24/7)."""
    if interval_ms <= 0:
        raise ValueError(f"interval_ms must be positive, got {interval_ms}")
    return MS_PER_YEAR / interval_ms


def max_drawdown(equity: NDArray[np.float64], initial_capital: float) -> float:
    """``max_t (1 - E[t] / max(C, E[0..t]))``: the deepest fall from the running peak, a
    fraction >= 0 (0 for an empty curve)."""
    if equity.size == 0:
        return 0.0
    peaks = np.maximum.accumulate(np.maximum(equity, initial_capital))
    with np.errstate(divide="ignore", invalid="ignore"):
        falls = np.where(peaks > 0.0, 1.0 - equity / peaks, 0.0)
    return float(np.max(falls))


def sharpe_ratio(returns: NDArray[np.float64], per_year: float) -> float:
    """``mean(r) / std(r, ddof=1) * sqrt(per_year)``; 0 with fewer than two returns or no spread."""
    if returns.size < 2:
        return 0.0
    std = float(returns.std(ddof=1))
    return float(returns.mean()) / std * math.sqrt(per_year) if std > 0.0 else 0.0


def sortino_ratio(returns: NDArray[np.float64], per_year: float) -> float:
    """``mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(per_year)``; 0 without a downside."""
    if returns.size < 2:
        return 0.0
    downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2)))
    return float(returns.mean()) / downside * math.sqrt(per_year) if downside > 0.0 else 0.0


def monthly_returns(
    equity: NDArray[np.float64], open_time: NDArray[np.int64], initial_capital: float
) -> dict[str, float]:
    """``{"YYYY-MM": return}`` from month-end equity (UTC months of the open times, in ms)."""
    if equity.size == 0:
        return {}
    first, last = (np.datetime64(int(t), "ms").astype("datetime64[M]") for t in open_time[[0, -1]])
    months = np.arange(first, last + 1, dtype="datetime64[M]")
    # Index of the last period of each month (open times are ascending).
    starts_ms = months[1:].astype("datetime64[ms]").astype(np.int64)
    ends = np.append(np.searchsorted(open_time, starts_ms, side="left") - 1, equity.size - 1)
    present = np.diff(np.concatenate(([-1], ends))) > 0  # months without data are skipped
    ends, months = ends[present], months[present]
    month_end_equity = equity[ends]
    previous = np.concatenate(([initial_capital], month_end_equity[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        values = month_end_equity / previous - 1.0
    labels = np.datetime_as_string(months, unit="M")
    return dict(zip(labels.tolist(), values.tolist(), strict=True))
