"""`ema_cross`: long on an EMA(fast) / EMA(slow) cross of the close (the reference strategy).

The cross definition is `apps.backtest.domain.ema_cross.ema_cross_signals`, reused as is, so the
signals equal the backtest reference's on the same candles: `enter_long` at a cross above,
`exit_long` at a cross below, none before `warmup`. Long only, like the reference. Stop and
take-profit are `close * (1 - sl)` and `close * (1 + tp)` at the signal candle (the backtest
kernel applies the same fractions to the actual entry price).
"""

from __future__ import annotations

import numpy as np

from apps.backtest.domain.ema_cross import ema_cross_signals

from .base import OHLCV, SignalFrame, Strategy

__all__ = ["EmaCross"]


class EmaCross(Strategy):
    kind = "ema_cross"

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
