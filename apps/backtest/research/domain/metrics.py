"""Performance metrics of a backtest, from its per-candle equity curve and its trades.

Definitions (``E[t]``: equity at the close of candle ``t``, ``t = 0..n-1``; ``C``: initial capital;
``E[-1] = C``; ``P``: candles per year ``= 365 * 86_400_000 / interval_ms``; crypto trades 24/7):

- period return ``r[t] = E[t] / E[t-1] - 1``;
- ``total_return = E[n-1] / C - 1``;
- ``cagr = (E[n-1] / C) ** (P / n) - 1`` (the span is ``n`` candles; -1 if equity ended <= 0);
- ``sharpe``, ``sortino``, ``max_drawdown`` and ``monthly_returns``: the definitions of
  ``apps.core.domain.metrics`` over ``r`` and ``E`` (Sharpe: ``mean(r) / std(r, ddof=1) *
  sqrt(P)``; drawdown: ``max_t (1 - E[t] / max(C, E[0..t]))``, a positive fraction);
- ``calmar = cagr / max_drawdown`` (``None`` without a drawdown: not defined);
- ``monthly_returns[YYYY-MM]`` = equity at the last close of the month over the equity at the
  last close of the previous month (``C`` for the first month), minus 1; months are UTC;
- trades: ``win_rate``, ``profit_loss_ratio``, ``profit_factor`` and ``expectancy`` (quote per
  trade) are ``apps.core.domain.metrics.trade_figures`` of the trades' net PnL: the one definition
  the PerformanceMonitor uses too; ``None`` where not defined (no trade, no loss);
- ``exposure`` = share of candles during which a position was open for at least part of the
  candle (an exit at the open of a candle does not count that candle);
- ``buy_and_hold_return = close[n-1] / open[0] - 1`` over the same candles;
- ``avg_slippage_bps`` = mean slippage of the market fills (every entry; exits other than
  take-profits, which are limit orders, and liquidations), in bps of each fill's reference
  price; ``n_long`` / ``n_short`` / ``liquidations`` count trades.

``trade_stats`` gives the trade figures of any subset of trades (a side, a symbol, a mode):
count, PnL, fees, funding paid, win rate, profit factor, expectancy, average slippage and the
count of each exit reason.

Pure: numpy only, no I/O.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from apps.backtest.research.domain.kernel import (
    EXIT_REASONS,
    REASON_LIQUIDATION,
    REASON_SIGNAL,
    REASON_TAKE_PROFIT,
    TradeLog,
)
from apps.core.domain.metrics import (
    MS_PER_YEAR,
    max_drawdown,
    monthly_returns,
    periods_per_year,
    sharpe_ratio,
    sortino_ratio,
    trade_figures,
)

__all__ = [
    "MS_PER_YEAR",
    "Metrics",
    "avg_slippage_bps",
    "compute_metrics",
    "monthly_returns",
    "periods_per_year",
    "trade_stats",
]


@dataclass(frozen=True, slots=True)
class Metrics:
    total_return: float
    cagr: float
    sharpe: float
    sortino: float
    calmar: float | None
    max_drawdown: float
    win_rate: float | None
    profit_loss_ratio: float | None
    profit_factor: float | None
    expectancy: float | None
    exposure: float
    n_trades: int
    buy_and_hold_return: float
    final_equity: float
    monthly_returns: dict[str, float] = field(default_factory=dict)
    avg_slippage_bps: float = 0.0
    n_long: int = 0
    n_short: int = 0
    liquidations: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def avg_slippage_bps(trades: TradeLog, mask: NDArray[np.bool_] | None = None) -> float:
    """Mean slippage (bps) over the market fills of the trades (all of them, or ``mask``)."""
    if trades.entry_slippage_bps is None or trades.exit_slippage_bps is None:
        return 0.0
    keep = np.ones(len(trades), dtype=np.bool_) if mask is None else mask
    market_exit = (
        keep & (trades.reason != REASON_TAKE_PROFIT) & (trades.reason != REASON_LIQUIDATION)
    )
    fills = int(keep.sum()) + int(market_exit.sum())
    if fills == 0:
        return 0.0
    total = float(
        trades.entry_slippage_bps[keep].sum() + trades.exit_slippage_bps[market_exit].sum()
    )
    return total / fills


def trade_stats(trades: TradeLog, mask: NDArray[np.bool_] | None = None) -> dict[str, Any]:
    """Trade figures of the trades selected by ``mask`` (all when ``None``)."""
    keep = np.ones(len(trades), dtype=np.bool_) if mask is None else mask
    pnl = trades.pnl[keep]
    figures = trade_figures(pnl.tolist(), zero=0.0)
    reasons = np.bincount(trades.reason[keep].astype(np.int64), minlength=len(EXIT_REASONS))
    return {
        "trades": figures.trades,
        "pnl": float(pnl.sum()),
        "fees": float(trades.fees[keep].sum()),
        "funding_paid": float(trades.funding_paid()[keep].sum()),
        "win_rate": figures.win_rate,
        "profit_factor": figures.profit_factor,
        "expectancy": figures.expectancy,
        "avg_slippage_bps": avg_slippage_bps(trades, keep),
        "exit_reasons": {
            name: int(count) for name, count in zip(EXIT_REASONS, reasons.tolist(), strict=True)
        },
    }


def compute_metrics(
    *,
    equity: NDArray[np.float64],
    open_time: NDArray[np.int64],
    interval_ms: int,
    trades: TradeLog,
    initial_capital: float,
    first_open: float,
    last_close: float,
) -> Metrics:
    """Compute ``Metrics`` (see the module docstring for the formulas)."""
    n = int(equity.size)
    per_year = periods_per_year(interval_ms)
    if n == 0:
        final = initial_capital
        returns = np.empty(0)
    else:
        final = float(equity[-1])
        previous = np.concatenate(([initial_capital], equity[:-1]))
        with np.errstate(divide="ignore", invalid="ignore"):
            returns = np.where(previous != 0.0, equity / previous - 1.0, 0.0)

    growth = final / initial_capital
    total_return = growth - 1.0
    cagr = (growth ** (per_year / n) - 1.0) if n and growth > 0.0 else (-1.0 if n else 0.0)

    sharpe = sharpe_ratio(returns, per_year)
    sortino = sortino_ratio(returns, per_year)
    drawdown = max_drawdown(equity, initial_capital)
    calmar = cagr / drawdown if drawdown > 0.0 else None
    figures = trade_figures(trades.pnl.tolist(), zero=0.0)
    in_market = trades.exit_index - trades.entry_index + (trades.reason != REASON_SIGNAL)
    exposure = float(in_market.sum()) / n if n else 0.0
    buy_and_hold = last_close / first_open - 1.0 if n else 0.0

    return Metrics(
        total_return=total_return,
        cagr=cagr,
        sharpe=sharpe,
        sortino=sortino,
        calmar=calmar,
        max_drawdown=drawdown,
        win_rate=figures.win_rate,
        profit_loss_ratio=figures.profit_loss_ratio,
        profit_factor=figures.profit_factor,
        expectancy=figures.expectancy,
        exposure=exposure,
        n_trades=figures.trades,
        buy_and_hold_return=buy_and_hold,
        final_equity=final,
        monthly_returns=monthly_returns(equity, open_time, initial_capital),
        avg_slippage_bps=avg_slippage_bps(trades),
        n_long=int(np.count_nonzero(trades.sides() > 0)),
        n_short=int(np.count_nonzero(trades.sides() < 0)),
        liquidations=int(np.count_nonzero(trades.reason == REASON_LIQUIDATION)),
    )
