"""Live market data in Django's cache: the latest closed candles and the book ticker.

The exchange stream adapter writes here; strategies, the risk gate and the dashboards read. The
cache is Redis when `REDIS_URL` is set (shared by every process) and process-local locmem in the
embedded default. Keys (Django adds its `KEY_PREFIX`, "tp" with Redis):

- `market:candles:v1:<SYMBOL>:<interval>`: the last `keep` closed candles, ascending, as tuples
  `(open_time_ms, open, high, low, close, volume)` with the prices as exact decimal strings;
  timeout `CANDLES_TIMEOUT` (7 days, refreshed on every append);
- `market:book:v1:<SYMBOL>`: the latest best bid/ask as a tuple of strings; timeout
  `BOOK_TICKER_TIMEOUT` (60 s), so a dead stream leaves no quote older than a minute behind.

Values are plain tuples of str/int (no pickled classes), so a reader on another release reads
them too. `candle_store_append` reads, merges and writes back: it expects one writer per
(symbol, interval), which is the streamer's layout (one stream per exchange account); two
concurrent writers could drop each other's candle.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache

from apps.exchange.domain.types import BookTicker, Candle, datetime_to_ms
from apps.market.data import Klines

__all__ = [
    "BOOK_TICKER_TIMEOUT",
    "CANDLES_TIMEOUT",
    "DEFAULT_KEEP",
    "book_ticker_get",
    "book_ticker_set",
    "candle_latest",
    "candle_store_append",
    "candles_latest",
]

DEFAULT_KEEP = 1000
CANDLES_TIMEOUT = 7 * 24 * 3600
BOOK_TICKER_TIMEOUT = 60
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)

CandleRow = tuple[int, str, str, str, str, str]


def _cache(cache: BaseCache | None) -> BaseCache:
    return caches["default"] if cache is None else cache


def candles_key(symbol: str, interval: str) -> str:
    return f"market:candles:v1:{symbol.upper()}:{interval}"


def book_ticker_key(symbol: str) -> str:
    return f"market:book:v1:{symbol.upper()}"


def candle_store_append(
    *,
    symbol: str,
    interval: str,
    candle: Candle,
    keep: int = DEFAULT_KEEP,
    cache: BaseCache | None = None,
) -> int:
    """Store one closed candle; return how many candles the store holds for the pair.

    A candle with an open time already stored replaces it (a REST gap-fill after a reconnect
    may resend one); an older one is put in its place; at most `keep` (the newest) are kept.
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    store = _cache(cache)
    key = candles_key(symbol, interval)
    row: CandleRow = (
        datetime_to_ms(candle.open_time),
        str(candle.open),
        str(candle.high),
        str(candle.low),
        str(candle.close),
        str(candle.volume),
    )
    rows: list[CandleRow] = list(store.get(key) or ())
    if not rows or row[0] > rows[-1][0]:
        rows.append(row)  # the usual case: the next candle
    else:
        merged = {r[0]: r for r in rows}
        merged[row[0]] = row
        rows = [merged[t] for t in sorted(merged)]
    rows = rows[-keep:]
    store.set(key, rows, timeout=CANDLES_TIMEOUT)
    return len(rows)


def _rows(symbol: str, interval: str, cache: BaseCache | None) -> Sequence[CandleRow]:
    return _cache(cache).get(candles_key(symbol, interval)) or ()


def candles_latest(
    *, symbol: str, interval: str, limit: int | None = None, cache: BaseCache | None = None
) -> Klines:
    """Return the stored closed candles (the last `limit` if given) as float64 `Klines`."""
    rows = list(_rows(symbol, interval, cache))
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        rows = rows[-limit:]
    times = np.array([r[0] for r in rows], dtype=np.int64)
    prices = np.array([r[1:] for r in rows], dtype=np.float64).reshape(len(rows), 5)
    return Klines(
        symbol=symbol.upper(),
        interval=interval,
        open_time=times,
        open=np.ascontiguousarray(prices[:, 0]),
        high=np.ascontiguousarray(prices[:, 1]),
        low=np.ascontiguousarray(prices[:, 2]),
        close=np.ascontiguousarray(prices[:, 3]),
        volume=np.ascontiguousarray(prices[:, 4]),
    )


def candle_latest(*, symbol: str, interval: str, cache: BaseCache | None = None) -> Candle | None:
    """Return the newest stored closed candle with exact Decimal prices, or None."""
    rows = _rows(symbol, interval, cache)
    if not rows:
        return None
    open_ms, o, h, lo, c, v = rows[-1]
    open_time = _EPOCH + open_ms * _MS
    return Candle(
        open_time=open_time,
        open=Decimal(o),
        high=Decimal(h),
        low=Decimal(lo),
        close=Decimal(c),
        volume=Decimal(v),
    )


def book_ticker_set(*, ticker: BookTicker, cache: BaseCache | None = None) -> None:
    """Store the latest best bid/ask of `ticker.symbol` (replacing the previous one)."""
    value = (
        ticker.symbol.upper(),
        str(ticker.bid_price),
        str(ticker.bid_qty),
        str(ticker.ask_price),
        str(ticker.ask_qty),
        None if ticker.time is None else datetime_to_ms(ticker.time),
    )
    _cache(cache).set(book_ticker_key(ticker.symbol), value, timeout=BOOK_TICKER_TIMEOUT)


def book_ticker_get(*, symbol: str, cache: BaseCache | None = None) -> BookTicker | None:
    """Return the latest stored best bid/ask of `symbol`, or None (never set, or expired)."""
    value = _cache(cache).get(book_ticker_key(symbol))
    if value is None:
        return None
    sym, bid, bid_qty, ask, ask_qty, time_ms = value
    return BookTicker(
        symbol=sym,
        bid_price=Decimal(bid),
        bid_qty=Decimal(bid_qty),
        ask_price=Decimal(ask),
        ask_qty=Decimal(ask_qty),
        time=None if time_ms is None else _EPOCH + time_ms * _MS,
    )
