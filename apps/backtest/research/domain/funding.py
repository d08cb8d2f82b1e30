"""Funding payments of perpetual-futures positions in a backtest (vectorised).

Binance settles funding every 8 hours: a long pays ``quantity x mark price x rate`` (receives it
when the rate is negative). Here a funding event at time ``f`` falls in the candle that contains
``f``; a trade pays it when it holds the position over that candle (``entry_index <= c <
exit_index``); the mark price is taken as that candle's close. A short receives what a long pays
(``side * quantity``; negative funding paid is funding received).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from apps.backtest.research.domain.kernel import TradeLog

FloatArray = NDArray[np.float64]


def funding_per_candle(
    open_time: NDArray[np.int64],
    close: FloatArray,
    funding_time: NDArray[np.int64],
    funding_rate: FloatArray,
) -> FloatArray:
    """``v[c] = close[c] x (sum of the rates settled inside candle c)``: the funding one unit of
    position pays when held over candle ``c``."""
    n = int(open_time.size)
    value = np.zeros(n, dtype=np.float64)
    if n == 0 or funding_time.size == 0:
        return value
    idx = np.searchsorted(open_time, funding_time, side="right") - 1
    inside = (idx >= 0) & (idx < n)
    # events after the last candle's close do not belong to the data either
    if n > 1:
        step = int(open_time[-1] - open_time[-2])
        inside &= funding_time < open_time[-1] + step
    rates = np.bincount(idx[inside], weights=funding_rate[inside], minlength=n)[:n]
    return close * rates


def apply_funding(
    trades: TradeLog, equity: FloatArray, per_candle: FloatArray
) -> tuple[TradeLog, FloatArray, FloatArray]:
    """Charge funding: return the trades with ``pnl`` net of funding (and ``funding`` set), the
    equity curve with every payment at its candle, and the funding each trade paid."""
    n = int(per_candle.size)
    cumulative = np.concatenate(([0.0], np.cumsum(per_candle)))
    signed = trades.quantity if trades.side is None else trades.quantity * trades.side
    paid = signed * (cumulative[trades.exit_index] - cumulative[trades.entry_index])
    held = np.zeros(n + 1, dtype=np.float64)
    np.add.at(held, trades.entry_index, signed)
    np.add.at(held, trades.exit_index, -signed)
    flows = np.cumsum(held)[:n] * per_candle
    adjusted = replace(trades, pnl=trades.pnl - paid, funding=trades.funding_paid() + paid)
    return adjusted, equity - np.cumsum(flows), paid
