"""`bollinger_scalp` (SCALP): mean reversion at the Bollinger bands, confirmed by RSI.

- enter long when the close is at or below the lower band and RSI <= `rsi_oversold`;
- enter short when the close is at or above the upper band and RSI >= `rsi_overbought`;
- exit a long when the close is back at or above the middle band, a short at or below it;
- stop `stop_atr` ATRs and take-profit `take_profit_atr` ATRs from the signal candle's close.

Bands, RSI and ATR are those of `apps.market.domain.indicators`; candles where any is still
undefined (`nan`) give no signal.
"""

from __future__ import annotations

import numpy as np

from apps.market.domain.indicators import atr, bollinger, rsi

from .base import OHLCV, SignalFrame, Strategy

__all__ = ["BollingerScalp"]


class BollingerScalp(Strategy):
    kind = "bollinger_scalp"
    whole_series = True

    @property
    def min_candles(self) -> int:
        p = self.params
        return int(max(p["bb_period"], p["rsi_period"] + 1, p["atr_period"])) + 1

    @property
    def warmup_candles(self) -> int:
        # Wilder smoothing keeps (1 - 1/n) ** k of its seed: 40 * n candles put it below 1e-17.
        p = self.params
        return int(max(self.min_candles, 40 * max(p["rsi_period"], p["atr_period"])))

    def signals(self, candles: OHLCV) -> SignalFrame:
        p = self.params
        close = candles.close
        middle, upper, lower = bollinger(close, p["bb_period"], p["bb_std"])
        strength = rsi(close, p["rsi_period"])
        range_ = atr(candles.high, candles.low, close, p["atr_period"])
        ready = np.isfinite(middle) & np.isfinite(strength) & np.isfinite(range_)
        enter_long = ready & (close <= lower) & (strength <= p["rsi_oversold"])
        enter_short = ready & (close >= upper) & (strength >= p["rsi_overbought"])
        exit_long = ready & (close >= middle)
        exit_short = ready & (close <= middle)
        stop = np.full(close.size, np.nan)
        take = np.full(close.size, np.nan)
        stop_distance = p["stop_atr"] * range_
        take_distance = p["take_profit_atr"] * range_
        stop[enter_long] = (close - stop_distance)[enter_long]
        take[enter_long] = (close + take_distance)[enter_long]
        stop[enter_short] = (close + stop_distance)[enter_short]
        take[enter_short] = (close - take_distance)[enter_short]
        return SignalFrame(
            enter_long, exit_long, enter_short, exit_short, stop_price=stop, take_profit=take
        )
