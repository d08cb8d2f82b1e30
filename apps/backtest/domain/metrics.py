"""Performance metrics of a backtest, from its per-candle equity curve and its trades.

Definitions (``E[t]``: equity at the close of candle ``t``, ``t = 0..n-1``; ``C``: initial capital;
``E[-1] = C``; ``P``: candles per year ``= 365 * 86_400_000 / interval_ms``; crypto trades 24/7):

- period return ``r[t] = E[t] / E[t-1] - 1``;
- ``total_return = E[n-1] / C - 1``;
- ``cagr = (E[n-1] / C) ** (P / n) - 1`` (the span is ``n`` candles; -1 if equity ended <= 0);
- ``sharpe = mean(r) / std(r, ddof=1) * sqrt(P)`` (risk-free rate 0; 0 if ``std == 0``);
- ``sortino = mean(r) / sqrt(mean(min(r, 0) ** 2)) * sqrt(P)`` (0 if there is no downside);
- ``max_drawdown = max_t (1 - E[t] / max(C, E[0..t]))``, a positive fraction;
- ``calmar = cagr / max_drawdown`` (``inf`` when there is no drawdown and ``cagr > 0``, else 0);
- ``monthly_returns[YYYY-MM]`` = equity at the last close of the month over the equity at the
  last close of the previous month (``C`` for the first month), minus 1; months are UTC;
- trades: ``win_rate`` = share of trades with ``pnl > 0``; ``profit_loss_ratio`` = mean winning
  pnl / |mean losing pnl|; ``profit_factor`` = sum of winning pnl / |sum of losing pnl|
  (``inf`` without losses, 0 without trades); ``expectancy`` = mean pnl per trade (quote);
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

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from apps.backtest.domain.kernel import (
    EXIT_REASONS,
    REASON_LIQUIDATION,
    REASON_SIGNAL,
    REASON_TAKE_PROFIT,
    TradeLog,
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

MS_PER_YEAR = 365 * 86_400_000


def periods_per_year(interval_ms: int) -> float:
    """Return how many candles of ``interval_ms`` fit in a 365-day year."""
    if interval_ms <= 0:
        raise ValueError(f"interval_ms must be positive, got {interval_ms}")
    return MS_PER_YEAR / interval_ms


@dataclass(frozen=True, slots=True)
class Metrics:
    total_return: float
    cagr: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown: float
    win_rate: float
    profit_loss_ratio: float
    profit_factor: float
    expectancy: float
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


def monthly_returns(
    equity: NDArray[np.float64], open_time: NDArray[np.int64], initial_capital: float
) -> dict[str, float]:
    """Return ``{"YYYY-MM": return}`` from month-end equity (UTC months of the open times)."""
    if equity.size == 0:
        return {}
    first, last = (np.datetime64(int(t), "ms").astype("datetime64[M]") for t in open_time[[0, -1]])
    months = np.arange(first, last + 1, dtype="datetime64[M]")
    # Index of the last candle of each month (open times are ascending).
    starts_ms = months[1:].astype("datetime64[ms]").astype(np.int64)
    ends = np.append(np.searchsorted(open_time, starts_ms, side="left") - 1, equity.size - 1)
    present = np.diff(np.concatenate(([-1], ends))) > 0  # months without candles are skipped
    ends, months = ends[present], months[present]
    month_end_equity = equity[ends]
    previous = np.concatenate(([initial_capital], month_end_equity[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        values = month_end_equity / previous - 1.0
    labels = np.datetime_as_string(months, unit="M")
    return dict(zip(labels.tolist(), values.tolist(), strict=True))


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
    wins, losses = pnl[pnl > 0.0], pnl[pnl < 0.0]
    n = int(pnl.size)
    reasons = np.bincount(trades.reason[keep].astype(np.int64), minlength=len(EXIT_REASONS))
    return {
        "trades": n,
        "pnl": float(pnl.sum()),
        "fees": float(trades.fees[keep].sum()),
        "funding_paid": float(trades.funding_paid()[keep].sum()),
        "win_rate": wins.size / n if n else 0.0,
        "profit_factor": _ratio(float(wins.sum()), float(-losses.sum())),
        "expectancy": float(pnl.mean()) if n else 0.0,
        "avg_slippage_bps": avg_slippage_bps(trades, keep),
        "exit_reasons": {
            name: int(count) for name, count in zip(EXIT_REASONS, reasons.tolist(), strict=True)
        },
    }


def _ratio(numerator: float, denominator: float) -> float:
    if denominator == 0.0:
        return math.inf if numerator > 0.0 else 0.0
    return numerator / denominator


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

    if returns.size > 1:
        std = float(returns.std(ddof=1))
        mean = float(returns.mean())
        sharpe = mean / std * math.sqrt(per_year) if std > 0.0 else 0.0
        downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2)))
        sortino = mean / downside * math.sqrt(per_year) if downside > 0.0 else 0.0
    else:
        sharpe = sortino = 0.0

    if n:
        peaks = np.maximum.accumulate(np.maximum(equity, initial_capital))
        max_drawdown = float(np.max(1.0 - equity / peaks))
    else:
        max_drawdown = 0.0
    calmar = _ratio(cagr, max_drawdown) if max_drawdown > 0.0 else (math.inf if cagr > 0 else 0.0)

    pnl = trades.pnl
    n_trades = int(pnl.size)
    wins, losses = pnl[pnl > 0.0], pnl[pnl < 0.0]
    win_rate = wins.size / n_trades if n_trades else 0.0
    mean_win = float(wins.mean()) if wins.size else 0.0
    mean_loss = float(-losses.mean()) if losses.size else 0.0
    profit_loss_ratio = _ratio(mean_win, mean_loss)
    profit_factor = _ratio(float(wins.sum()), float(-losses.sum()))
    expectancy = float(pnl.mean()) if n_trades else 0.0
    in_market = trades.exit_index - trades.entry_index + (trades.reason != REASON_SIGNAL)
    exposure = float(in_market.sum()) / n if n else 0.0
    buy_and_hold = last_close / first_open - 1.0 if n else 0.0

    return Metrics(
        total_return=total_return,
        cagr=cagr,
        sharpe=sharpe,
        sortino=sortino,
        calmar=calmar,
        max_drawdown=max_drawdown,
        win_rate=win_rate,
        profit_loss_ratio=profit_loss_ratio,
        profit_factor=profit_factor,
        expectancy=expectancy,
        exposure=exposure,
        n_trades=n_trades,
        buy_and_hold_return=buy_and_hold,
        final_equity=final,
        monthly_returns=monthly_returns(equity, open_time, initial_capital),
        avg_slippage_bps=avg_slippage_bps(trades),
        n_long=int(np.count_nonzero(trades.sides() > 0)),
        n_short=int(np.count_nonzero(trades.sides() < 0)),
        liquidations=int(np.count_nonzero(trades.reason == REASON_LIQUIDATION)),
    )
