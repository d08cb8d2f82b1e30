"""Reads of market data from the database, as the kernel's numpy `Klines`."""

from __future__ import annotations

import numpy as np
from django.db.models import FloatField
from django.db.models.functions import Cast

from apps.market.domain.candles import Klines, interval_to_ms, last_closed_open_time
from apps.market.models import Kline

__all__ = ["interval_ms", "kline_last_closed_open_time", "klines_window"]

_PRICES = ("open", "high", "low", "close", "volume")


def interval_ms(interval: str) -> int:
    """Return the length of a Binance interval ("1m", "4h", "1d", "1w") in ms.

    Raise ValueError for an unknown interval, and for "1M" (months have no fixed length, so
    candle closes cannot be computed from it).
    """
    if interval.endswith("M"):
        raise ValueError(f"unknown or variable-length interval {interval!r}")
    return interval_to_ms(interval)


def kline_last_closed_open_time(*, interval: str, now_ms: int) -> int:
    """Return the open time of the last candle of `interval` fully closed at `now_ms`
    (``apps.market.domain.candles.last_closed_open_time``)."""
    return last_closed_open_time(interval=interval, now_ms=now_ms)


def klines_window(*, symbol: str, interval: str, end_ms: int | None = None, limit: int) -> Klines:
    """Return the last `limit` candles with open_time <= `end_ms` (all if None), ascending.

    Series are float64 (see docs/architecture.md): the database casts the prices to floats, so
    no Decimal is built per value on this hot path (every bot cycle reads a window). Fewer than
    `limit` rows come back when the table has fewer.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    rows = Kline.objects.filter(symbol=symbol, interval=interval)
    if end_ms is not None:
        rows = rows.filter(open_time__lte=end_ms)
    values = list(
        rows.order_by("-open_time")
        .annotate(**{f"{name}_f": Cast(name, FloatField()) for name in _PRICES})
        .values_list("open_time", *(f"{name}_f" for name in _PRICES))[:limit]
    )
    values.reverse()
    if values:
        times = np.fromiter((v[0] for v in values), dtype=np.int64, count=len(values))
        prices = np.array([v[1:] for v in values], dtype=np.float64)
    else:
        times = np.empty(0, dtype=np.int64)
        prices = np.empty((0, 5), dtype=np.float64)
    return Klines(
        symbol=symbol,
        interval=interval,
        open_time=times,
        open=np.ascontiguousarray(prices[:, 0]),
        high=np.ascontiguousarray(prices[:, 1]),
        low=np.ascontiguousarray(prices[:, 2]),
        close=np.ascontiguousarray(prices[:, 3]),
        volume=np.ascontiguousarray(prices[:, 4]),
    )
