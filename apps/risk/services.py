"""Adapters around the pure risk kernel: cached CryptoVIX and correlation readings.

Caching (Django's cache: Redis when configured, so shared by every process; locmem otherwise).
Every entry is stored as `(stored_at_ms, value)` and is fresh while
`stored_at <= now < stored_at + ttl` on the INJECTED clock, so a backtest on an accelerated
clock expires entries exactly as live does; a `now` before `stored_at` (a clock that went back,
e.g. a second backtest) is a miss. The backend timeout is set to the same TTL in real seconds,
only to free memory.

- CryptoVIX reading: key `risk:vix:v1:<SYMBOL>:<interval>:<params>:<last_closed_open_ms>`, TTL
  5 minutes (`VIX_TTL`). `last_closed_open_ms` is the open time of the last candle closed at
  `now`, computed from `now` alone (no query), so a cached reading is reused for at most 5
  minutes and never across a candle close. `<params>` is a short hash of the CryptoVIX settings.
- Correlation matrix: key `risk:corr:v1:<interval>:<lookback>:<min_returns>:<SYM1,SYM2,..>`
  (symbols sorted), TTL 1 hour (`CORRELATION_TTL`); the matrix records the candle span it used.

A backtest sharing the live Redis should pass its own `cache=` (e.g. a `LocMemCache`), or the
two clocks evict each other's entries (still correct, just uncached).

No service reads the clock: `now` is a required argument (tasks pass `timezone.now()`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TypeVar

from django.core.cache import caches
from django.core.cache.backends.base import BaseCache

from apps.exchange.domain.types import datetime_to_ms
from apps.market.selectors import klines_window
from apps.risk.domain.portfolio import CorrelationMatrix
from apps.risk.domain.readings import (
    CORRELATION_MIN_RETURNS,
    CORRELATION_TTL,
    MAX_MISSING_CANDLES,
    VIX_TTL,
    KlineSource,
    RiskDataError,
    correlation_read,
    last_closed_open_time,
    vix_read,
)
from apps.risk.domain.types import require_utc
from apps.risk.domain.vix import CryptoVIX, VixReading

__all__ = [
    "CORRELATION_TTL",
    "MAX_MISSING_CANDLES",
    "VIX_TTL",
    "KlineSource",
    "RiskDataError",
    "correlation_matrix_current",
    "vix_current",
]

T = TypeVar("T")
_MS = timedelta(milliseconds=1)


def _cached(
    cache: BaseCache | None, key: str, now: datetime, ttl: timedelta, compute: Callable[[], T]
) -> T:
    store = caches["default"] if cache is None else cache
    now_ms = datetime_to_ms(now)
    entry = store.get(key)
    if entry is not None:
        stored_ms, value = entry
        if stored_ms <= now_ms < stored_ms + ttl // _MS:
            return value
    value = compute()
    store.set(key, (now_ms, value), timeout=int(ttl.total_seconds()))
    return value


def _vix_params_tag(vix: CryptoVIX) -> str:
    params = (
        vix.lookback,
        vix.bands,
        vix.vol_floor,
        vix.vol_ceiling,
        vix.close_to_close_weight,
        vix.periods_per_year,
        vix.min_candles,
    )
    return hashlib.sha256(repr(params).encode()).hexdigest()[:12]


def vix_current(
    *,
    now: datetime,
    symbol: str = "BTCUSDT",
    interval: str = "1h",
    source: KlineSource = klines_window,
    vix: CryptoVIX | None = None,
    cache: BaseCache | None = None,
) -> VixReading:
    """Return the CryptoVIX reading over the candles closed at `now`, cached 5 minutes.

    Raise `RiskDataError` if the candles are too few or the newest is stale.
    """
    require_utc(now, "now")
    vix = CryptoVIX() if vix is None else vix
    last_closed = last_closed_open_time(interval=interval, now_ms=datetime_to_ms(now))
    key = f"risk:vix:v1:{symbol}:{interval}:{_vix_params_tag(vix)}:{last_closed}"

    def compute() -> VixReading:
        return vix_read(source, vix=vix, symbol=symbol, interval=interval, last_closed=last_closed)

    return _cached(cache, key, now, VIX_TTL, compute)


def correlation_matrix_current(
    *,
    symbols: Iterable[str],
    lookback: int,
    interval: str = "1h",
    now: datetime,
    source: KlineSource = klines_window,
    min_returns: int = CORRELATION_MIN_RETURNS,
    cache: BaseCache | None = None,
) -> CorrelationMatrix:
    """Return the correlation matrix of the last `lookback` common closed candles, cached 1 hour.

    Each symbol's last `2 * lookback` candles are read, so a few missing candles still leave
    `lookback` common ones. Raise `RiskDataError` if too few or stale.
    """
    require_utc(now, "now")
    names = tuple(sorted({s.upper() for s in symbols}))
    if not names:
        raise ValueError("no symbols given")
    key = f"risk:corr:v1:{interval}:{lookback}:{min_returns}:{','.join(names)}"

    def compute() -> CorrelationMatrix:
        last_closed = last_closed_open_time(interval=interval, now_ms=datetime_to_ms(now))
        return correlation_read(
            source,
            symbols=names,
            lookback=lookback,
            interval=interval,
            last_closed=last_closed,
            min_returns=min_returns,
        )

    return _cached(cache, key, now, CORRELATION_TTL, compute)
