"""Run a strategy over candle series and collect trades, equity and metrics."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from apps.backtest.domain.candles import CandleSeries, interval_to_ms
from apps.backtest.domain.ema_cross import EmaCrossParams, ema_cross_trades
from apps.backtest.domain.funding import apply_funding, funding_per_candle
from apps.backtest.domain.kernel import Trade, TradeLog, equity_curve
from apps.backtest.domain.metrics import Metrics, compute_metrics

__all__ = ["BacktestResult", "PortfolioResult", "backtest_ema_cross", "backtest_ema_cross_many"]


@dataclass(frozen=True, slots=True, eq=False)
class BacktestResult:
    """One symbol's run: trades (arrays), per-candle equity and metrics."""

    symbol: str
    interval: str
    params: EmaCrossParams
    initial_capital: float
    open_time: NDArray[np.int64]
    trades: TradeLog
    equity: NDArray[np.float64]
    metrics: Metrics
    funding_paid: float = 0.0

    def trade_records(self) -> list[Trade]:
        """Return the trades as records (times in ms UTC)."""
        return self.trades.to_trades(self.symbol, self.open_time, interval_to_ms(self.interval))


@dataclass(frozen=True, slots=True, eq=False)
class PortfolioResult:
    """Several symbols run side by side, each with its own stake and capital."""

    results: dict[str, BacktestResult]

    @property
    def n_candles(self) -> int:
        return sum(int(r.open_time.size) for r in self.results.values())

    @property
    def n_trades(self) -> int:
        return sum(len(r.trades) for r in self.results.values())

    @property
    def total_pnl(self) -> float:
        return float(sum(float(r.trades.pnl.sum()) for r in self.results.values()))


def backtest_ema_cross(
    candles: CandleSeries,
    params: EmaCrossParams | None = None,
    *,
    initial_capital: float | None = None,
    method: Literal["batch", "events"] = "batch",
    funding: tuple[NDArray[np.int64], NDArray[np.float64]] | None = None,
) -> BacktestResult:
    """Backtest ``ema_cross`` on one series; capital defaults to the stake (return on stake).

    ``funding``: (funding times in ms, rates) of the symbol; positions then pay funding at each
    settlement they hold (see ``funding.py``), in the trades' PnL and in the equity curve.
    """
    params = params or EmaCrossParams()
    capital = float(params.stake if initial_capital is None else initial_capital)
    if capital <= 0.0:
        raise ValueError(f"initial_capital must be positive, got {capital}")
    interval_ms = interval_to_ms(candles.interval)
    trades = ema_cross_trades(
        candles.open, candles.high, candles.low, candles.close, params, method=method
    )
    equity = equity_curve(trades, candles.close, capital)
    funding_paid = 0.0
    if funding is not None:
        per_candle = funding_per_candle(candles.open_time, candles.close, *funding)
        trades, equity, paid = apply_funding(trades, equity, per_candle)
        funding_paid = float(paid.sum())
    n = candles.close.size
    metrics = compute_metrics(
        equity=equity,
        open_time=candles.open_time,
        interval_ms=interval_ms,
        trades=trades,
        initial_capital=capital,
        first_open=float(candles.open[0]) if n else 0.0,
        last_close=float(candles.close[-1]) if n else 0.0,
    )
    return BacktestResult(
        symbol=candles.symbol,
        interval=candles.interval,
        params=params,
        initial_capital=capital,
        open_time=candles.open_time,
        trades=trades,
        equity=equity,
        metrics=metrics,
        funding_paid=funding_paid,
    )


def backtest_ema_cross_many(
    series: Iterable[CandleSeries],
    params: EmaCrossParams | None = None,
    *,
    initial_capital: float | None = None,
    method: Literal["batch", "events"] = "batch",
) -> PortfolioResult:
    """Backtest ``ema_cross`` on several series (one result per symbol)."""
    results: dict[str, BacktestResult] = {}
    for candles in series:
        key = f"{candles.symbol}-{candles.interval}"
        if key in results:
            raise ValueError(f"duplicate series {key}")
        results[key] = backtest_ema_cross(
            candles, params, initial_capital=initial_capital, method=method
        )
    return PortfolioResult(results=results)
