"""`trend_swing` (SWING): EMA trend filter plus a Donchian breakout, ATR stop and trailing.

- trend up when EMA(fast) > EMA(slow), down when EMA(fast) < EMA(slow);
- enter long in an up-trend when the close breaks above the highest high of the previous
  `breakout` candles (the current candle excluded); short in a down-trend below the lowest low;
- exit a long when the trend turns down (fast < slow), a short when it turns up;
- stop `stop_atr` ATRs from the signal candle's close; `trail_distance` = `trail_atr` ATRs, the
  distance the fast backtest trails the stop at;
- in a bot's cycle (``custom_stop``), the same trail: after each closed candle the stop of an
  open position is moved to `trail_atr` ATRs (the ATR of that candle) behind its high (long) or
  low (short) when that is tighter than the stop; never loosened, never through the close (the
  runner moves the exchange stop-market, place first: ``CycleRunner.replace_stop``).
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
from numpy.typing import NDArray

from apps.exchange.domain.types import Side
from apps.market.domain.indicators import atr, ema, rolling_max, rolling_min

from .base import OHLCV, PositionView, SignalFrame, Strategy, to_decimal

__all__ = ["TrendSwing", "donchian"]


def donchian(
    high: NDArray[np.float64], low: NDArray[np.float64], lookback: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the highest high and lowest low of the `lookback` candles BEFORE each candle
    (`nan` for the first `lookback` candles)."""
    n = high.size
    upper = np.full(n, np.nan)
    lower = np.full(n, np.nan)
    if n > lookback:
        upper[lookback:] = rolling_max(high, lookback)[lookback - 1 : n - 1]
        lower[lookback:] = rolling_min(low, lookback)[lookback - 1 : n - 1]
    return upper, lower


class TrendSwing(Strategy):
    kind = "trend_swing"
    whole_series = True

    @property
    def min_candles(self) -> int:
        p = self.params
        return int(max(p["slow"], p["breakout"], p["atr_period"])) + 1

    @property
    def warmup_candles(self) -> int:
        p = self.params
        return int(max(self.min_candles, 20 * p["slow"], 40 * p["atr_period"]))

    def signals(self, candles: OHLCV) -> SignalFrame:
        p = self.params
        close = candles.close
        fast = ema(close, p["fast"])
        slow = ema(close, p["slow"])
        upper, lower = donchian(candles.high, candles.low, p["breakout"])
        range_ = atr(candles.high, candles.low, close, p["atr_period"])
        ready = np.isfinite(upper) & np.isfinite(range_)
        up, down = fast > slow, fast < slow
        enter_long = ready & up & (close > upper)
        enter_short = ready & down & (close < lower)
        exit_long = ready & down
        exit_short = ready & up
        stop = np.full(close.size, np.nan)
        trail = np.full(close.size, np.nan)
        distance = p["stop_atr"] * range_
        stop[enter_long] = (close - distance)[enter_long]
        stop[enter_short] = (close + distance)[enter_short]
        entries = enter_long | enter_short
        trail[entries] = (p["trail_atr"] * range_)[entries]
        return SignalFrame(
            enter_long, exit_long, enter_short, exit_short, stop_price=stop, trail_distance=trail
        )

    def custom_stop(
        self, position: PositionView, candles: OHLCV, frame: SignalFrame
    ) -> Decimal | None:
        """The ATR trailing stop after the last closed candle: `trail_atr` ATRs behind its high
        (long) or low (short). None for a position without a stop (the trail moves a stop, it
        does not make one), where the ATR is not known yet, or where the trail is at or through
        the close (the resting stop stays; it closes the position when reached). The base
        keeps it only when tighter than the position's stop."""
        if position.stop_price is None:
            return None
        p = self.params
        range_ = float(atr(candles.high, candles.low, candles.close, p["atr_period"])[-1])
        if not math.isfinite(range_):
            return None
        distance = p["trail_atr"] * range_
        close = float(candles.close[-1])
        if position.side is Side.BUY:
            stop = float(candles.high[-1]) - distance
            through = stop >= close
        else:
            stop = float(candles.low[-1]) + distance
            through = stop <= close
        if through or stop <= 0:
            return None
        return to_decimal(stop)
