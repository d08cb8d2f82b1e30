"""`ema_cross`: long on an EMA(fast) / EMA(slow) cross of the close (the reference strategy).

The cross definition is `ema_cross_signals` here, which the backtest reference
(`apps.backtest.research.domain.ema_cross`) reuses as is, so the signals equal the reference's
on the same candles: `enter_long` at a cross above,
`exit_long` at a cross below, none before `warmup`. Long only, like the reference. Stop and
take-profit are `close * (1 - sl)` and `close * (1 + tp)` at the signal candle (the backtest
kernel applies the same fractions to the actual entry price).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from apps.market.domain.indicators import ema

from .base import OHLCV, SignalFrame, Strategy

__all__ = ["EmaCross"]


def ema_cross_signals(
    close: NDArray[np.float64], *, fast: int, slow: int, warmup: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Return the candle indices ``>= warmup`` of crosses above and of crosses below."""
    fast_line = ema(close, fast)
    slow_line = ema(close, slow)
    above = fast_line > slow_line
    below = fast_line < slow_line
    first = max(int(warmup), 1)
    # Compare candle i with i-1 for i in [first, n): ~above[i-1] is fast[i-1] <= slow[i-1].
    cross_up = above[first:] & ~above[first - 1 : -1]
    cross_down = below[first:] & ~below[first - 1 : -1]
    return np.flatnonzero(cross_up) + first, np.flatnonzero(cross_down) + first


class EmaCross(Strategy):
    kind = "ema_cross"
    whole_series = True

    @property
    def min_candles(self) -> int:
        return max(int(self.params["warmup"]), int(self.params["slow"])) + 1

    @property
    def warmup_candles(self) -> int:
        # (1 - 2 / (slow + 1)) ** (20 * slow) < 1e-17: the EMA seed no longer shows.
        return max(self.min_candles, 20 * int(self.params["slow"]))

    def signals(self, candles: OHLCV) -> SignalFrame:
        p = self.params
        close = candles.close
        ups, downs = ema_cross_signals(close, fast=p["fast"], slow=p["slow"], warmup=p["warmup"])
        frame = SignalFrame.empty(close.size)
        frame.enter_long[ups] = True
        frame.exit_long[downs] = True
        stop = np.full(close.size, np.nan)
        take = np.full(close.size, np.nan)
        stop[ups] = close[ups] * (1.0 - p["sl"])
        take[ups] = close[ups] * (1.0 + p["tp"])
        return SignalFrame(
            frame.enter_long,
            frame.exit_long,
            frame.enter_short,
            frame.exit_short,
            stop_price=stop,
            take_profit=take,
        )
