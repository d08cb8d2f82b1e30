"""Run a strategy over candle series and collect trades, equity and metrics.

Two entry points: ``backtest_ema_cross`` (the reference strategy on its batch fast path, long
only, fixed brackets) and ``backtest_strategy`` (any registered ``Strategy``: its own vectorised
``signals`` played by ``signal_kernel`` long and short, with leverage and liquidation, book
slippage, maker/taker fees and a configurable intrabar order).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from apps.backtest.research.domain.candles import CandleSeries, interval_to_ms
from apps.backtest.research.domain.ema_cross import EmaCrossParams, ema_cross_trades
from apps.backtest.research.domain.funding import apply_funding, funding_per_candle
from apps.backtest.research.domain.kernel import Trade, TradeLog, equity_curve
from apps.backtest.research.domain.metrics import Metrics, compute_metrics
from apps.backtest.research.domain.signal_kernel import (
    ExecutionParams,
    FineCandles,
    simulate_signals,
)
from apps.strategies.domain.base import OHLCV, Action, SignalFrame, Strategy

__all__ = [
    "BacktestResult",
    "PortfolioResult",
    "backtest_ema_cross",
    "backtest_ema_cross_many",
    "backtest_strategy",
]


@dataclass(frozen=True, slots=True, eq=False)
class BacktestResult:
    """One symbol's run: trades (arrays), per-candle equity and metrics."""

    symbol: str
    interval: str
    params: EmaCrossParams | ExecutionParams
    initial_capital: float
    open_time: NDArray[np.int64]
    trades: TradeLog
    equity: NDArray[np.float64]
    metrics: Metrics
    funding_paid: float = 0.0
    kind: str = "ema_cross"
    mode: str = ""
    #: candles that touched both the adverse level and the take-profit, and how many of those
    #: finer candles resolved (``intrabar="finer"``)
    intrabar: dict[str, Any] = field(default_factory=dict)

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
    return _finish(candles, trades, equity, capital, interval_ms, funding, params, "ema_cross")


def _finish(
    candles: CandleSeries,
    trades: TradeLog,
    equity: NDArray[np.float64],
    capital: float,
    interval_ms: int,
    funding: tuple[NDArray[np.int64], NDArray[np.float64]] | None,
    params: EmaCrossParams | ExecutionParams,
    kind: str,
    mode: str = "",
    intrabar: dict[str, Any] | None = None,
) -> BacktestResult:
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
        kind=kind,
        mode=mode or kind,
        intrabar=intrabar or {},
    )


def _confirmed_entries(strategy: Strategy, window: OHLCV, frame: SignalFrame) -> SignalFrame:
    """Apply the strategy's ``confirm_entry`` veto (only when its class overrides it) to every
    entry signal, with the candles up to the signal candle, as live ``decide`` does."""
    if type(strategy).confirm_entry is Strategy.confirm_entry:
        return frame
    columns = {"enter_long": frame.enter_long.copy(), "enter_short": frame.enter_short.copy()}
    for name, action in (("enter_long", Action.ENTER_LONG), ("enter_short", Action.ENTER_SHORT)):
        column = columns[name]
        for i in np.flatnonzero(column & (frame.enter_long != frame.enter_short)).tolist():
            decision = strategy.decision_at(action, i, window, frame)
            if not strategy.confirmed(decision, OHLCV.of(window, 0, i + 1)):
                column[i] = False
    return replace(frame, enter_long=columns["enter_long"], enter_short=columns["enter_short"])


def backtest_strategy(
    candles: CandleSeries,
    strategy: Strategy,
    execution: ExecutionParams | None = None,
    *,
    initial_capital: float | None = None,
    funding: tuple[NDArray[np.int64], NDArray[np.float64]] | None = None,
    fine: CandleSeries | None = None,
    frame_levels: bool = True,
    mode: str = "",
    jit: bool | None = None,
) -> BacktestResult:
    """Backtest any strategy on one series with its own ``signals`` (the live code path).

    ``execution`` sets stake (margin), fees, leverage, slippage and the intrabar rule (see
    ``signal_kernel``); capital defaults to the stake. ``frame_levels=False`` ignores the frame's
    ``stop_price`` / ``take_profit`` and uses the fractions of ``execution`` on the actual entry
    price (the ``ema_cross`` definition). ``fine``: finer candles of the same symbol for
    ``intrabar="finer"``. ``mode`` labels the result (default: the strategy kind); ``jit`` as in
    ``simulate_signals``. The strategy's ``confirm_entry`` veto applies to each entry signal as
    live; ``custom_stop`` (live stop moves) is not replayed. Raise ``StrategyError`` (a
    ``ValueError``) when the strategy cannot run on these candles.
    """
    execution = execution or ExecutionParams()
    capital = float(execution.stake if initial_capital is None else initial_capital)
    if capital <= 0.0:
        raise ValueError(f"initial_capital must be positive, got {capital}")
    interval_ms = interval_to_ms(candles.interval)
    window = OHLCV.of(candles)
    frame = _confirmed_entries(strategy, window, strategy.evaluate(window))
    fine_candles = None
    if fine is not None:
        if interval_to_ms(fine.interval) >= interval_ms:
            raise ValueError(
                f"finer candles must have a shorter interval than {candles.interval}, "
                f"got {fine.interval}"
            )
        fine_candles = FineCandles(fine.open_time, fine.open, fine.high, fine.low, fine.close)
    run = simulate_signals(
        window.open,
        window.high,
        window.low,
        window.close,
        window.volume,
        enter_long=frame.enter_long,
        exit_long=frame.exit_long,
        enter_short=frame.enter_short,
        exit_short=frame.exit_short,
        stop_price=frame.stop_price if frame_levels else None,
        take_profit=frame.take_profit if frame_levels else None,
        trail_distance=frame.trail_distance,
        params=execution,
        open_time=window.open_time,
        interval_ms=interval_ms,
        fine=fine_candles,
        jit=jit,
    )
    trades = run.trades
    equity = equity_curve(trades, window.close, capital)
    stats = {
        "mode": execution.intrabar,
        "ambiguous_candles": run.ambiguous,
        "resolved_by_fine": run.resolved_by_fine,
        "fine_candles": 0 if fine is None else int(fine.open_time.size),
    }
    return _finish(
        candles,
        trades,
        equity,
        capital,
        interval_ms,
        funding,
        execution,
        strategy.kind,
        mode,
        stats,
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
