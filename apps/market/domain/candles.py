"""Candle series: the one in-memory shape of klines (float64 OHLCV arrays, ms open times), used
by the loader, the database selectors, the strategies and the backtest kernel."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

__all__ = ["INTERVAL_MS", "CandleSeries", "Klines", "interval_to_ms", "last_closed_open_time"]

_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_INTERVAL_RE = re.compile(r"^(\d+)([smhdwM])$")

#: Binance kline intervals and their length in ms ("1M" is taken as 30 days for annualisation).
INTERVAL_MS: dict[str, int] = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
    "1M": 2_592_000_000,
}


def interval_to_ms(interval: str) -> int:
    """Return the length of a kline interval such as ``"5m"`` in ms; raise ``ValueError``."""
    if interval in INTERVAL_MS:
        return INTERVAL_MS[interval]
    match = _INTERVAL_RE.match(interval)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"unknown kline interval {interval!r}")
    count, unit = int(match.group(1)), match.group(2)
    return count * (2_592_000_000 if unit == "M" else _UNIT_MS[unit])


class CandleSeries(Protocol):
    """What the kernel reads: ms open times and float64 OHLCV arrays of equal length."""

    symbol: str
    interval: str
    open_time: NDArray[np.int64]
    open: NDArray[np.float64]
    high: NDArray[np.float64]
    low: NDArray[np.float64]
    close: NDArray[np.float64]
    volume: NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class Klines:
    """Candles of one symbol and interval: open time in ms UTC, float64 OHLCV."""

    symbol: str
    interval: str
    open_time: NDArray[np.int64]
    open: NDArray[np.float64]
    high: NDArray[np.float64]
    low: NDArray[np.float64]
    close: NDArray[np.float64]
    volume: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.open_time.size)

    def slice(self, start: int | None = None, stop: int | None = None) -> Klines:
        """Return candles ``[start:stop]`` (views, no copy)."""
        s = slice(start, stop)
        return Klines(
            symbol=self.symbol,
            interval=self.interval,
            open_time=self.open_time[s],
            open=self.open[s],
            high=self.high[s],
            low=self.low[s],
            close=self.close[s],
            volume=self.volume[s],
        )

    @classmethod
    def from_series(cls, series: CandleSeries) -> Klines:
        """Copy references from any object with the candle attributes."""
        return cls(
            symbol=series.symbol,
            interval=series.interval,
            open_time=series.open_time,
            open=series.open,
            high=series.high,
            low=series.low,
            close=series.close,
            volume=series.volume,
        )


def last_closed_open_time(*, interval: str, now_ms: int) -> int:
    """The open time of the last candle of ``interval`` fully closed at ``now_ms`` (candles are
    aligned to the epoch: true for Binance intervals up to 1d; "1M" has no fixed length and is
    refused)."""
    if interval.endswith("M"):
        raise ValueError(f"unknown or variable-length interval {interval!r}")
    step = interval_to_ms(interval)
    return (now_ms // step) * step - step
