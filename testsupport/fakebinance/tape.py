"""The fake's trade tape: trade counts, trade ids and taker volumes for the shipped candles.

The shipped market data (``../shared/data``) is OHLCV only, while Binance's klines, 24hr tickers
and kline streams also carry a quote volume, the number of trades, the first and last trade id
and the taker-buy base and quote volumes. This module derives them, deterministically (no
randomness: the same files give the same values on every machine), so that they are realistic
and consistent with each other.

Derivation, per symbol:

- **Quote volume** of a shipped candle = volume x typical price ``(high + low + close) / 3``; an
  aggregated candle's (4h from 1h, 15m from 5m, ...) is the sum of its shipped candles'.
- **Trades per anchor candle** (the coarsest shipped series, 1h): quote volume divided by the
  symbol's average trade notional (``AVG_TRADE_NOTIONAL``, near Binance USDⓈ-M 2024-25 averages:
  about 6,000 USDT per BTCUSDT trade, 500 per DOGEUSDT trade), rounded, at least one trade when
  the volume is not zero and none when it is.
- **Trade ids** are a running count per symbol: the first trade of the first shipped hour has id
  1 and every hour's first id follows the previous hour's last, so by 2025 BTCUSDT ids are in the
  billions as on Binance. ``ids_before(t)`` is the id of the first trade at or after ``t``.
  Inside an hour the ids are spread over the finer shipped series (5m, 1m) in proportion to its
  volume (by time where that series does not cover the hour). A kline opening at ``t`` has
  ``firstId = ids_before(t)``, ``lastId = ids_before(t + interval) - 1`` and
  ``count = lastId - firstId + 1``, so adjacent klines chain (next firstId = lastId + 1), a 4h
  kline's count is the sum of its four 1h counts, and the 24hr ticker's firstId/lastId/count are
  those of its 24 hourly klines.
- **Taker buy share** = ``0.5 + 0.2 x (close - open) / (high - low)`` (0.5 for a flat candle):
  30 % to 70 %, more aggressive buying in green candles with big bodies. Taker buy base / quote
  volume = share x volume / quote volume (summed over shipped candles for aggregated ones).
- After the shipped data ends the tape has no more candles; trades the fake itself prints
  (price moves set by tests, the user's own fills) take the next ids of the same running count
  (``Exchange.next_trade_id``), so the user's trade ids (``userTrades``, ``t`` in the user
  stream) continue the tape and stay unique and increasing per symbol.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from dataclasses import dataclass
from decimal import Decimal

from .data import INTERVAL_MS, SHIPPED, MarketData

D = Decimal
# Average taker trade notional in USDT (Binance USDⓈ-M perpetuals, 2024-25, rounded).
AVG_TRADE_NOTIONAL: dict[str, float] = {
    "BTCUSDT": 6000.0,
    "ETHUSDT": 3500.0,
    "SOLUSDT": 1800.0,
    "BNBUSDT": 1500.0,
    "XRPUSDT": 1000.0,
    "ADAUSDT": 700.0,
    "DOGEUSDT": 500.0,
}
DEFAULT_TRADE_NOTIONAL = 1000.0
QUOTE_PLACES = 4  # decimals of the quote volumes served (Binance sends 4-5)
QUOTE_QUANTUM = D(1).scaleb(-QUOTE_PLACES)
Row = tuple[int, str, str, str, str, str]


@dataclass(frozen=True)
class KlineStats:
    """What Binance adds to an OHLCV candle."""

    quote: Decimal
    count: int
    first_id: int  # -1 when there was no trade (as Binance sends)
    last_id: int  # -1 when there was no trade
    taker_base: Decimal
    taker_quote: Decimal


@dataclass(frozen=True)
class _Anchor:
    step: int
    times: list[int]
    counts: list[int]
    prefix: list[int]  # prefix[j] = id of the first trade of anchor candle j; len = n + 1


@dataclass(frozen=True)
class _Fine:
    times: list[int]
    cum: list[float]  # cum[i] = volume of candles 0..i-1


_cache: dict[tuple[str, str, str], object] = {}
_lock = threading.Lock()


def typical(h: str, lo: str, c: str) -> Decimal:
    return (D(h) + D(lo) + D(c)) / 3


def taker_share(o: str, h: str, lo: str, c: str) -> Decimal:
    """Return the taker-buy share of a candle's volume (0.3 to 0.7)."""
    span = D(h) - D(lo)
    if span <= 0:
        return D("0.5")
    return (D("0.5") + D("0.2") * (D(c) - D(o)) / span).quantize(D("0.0001"))


def avg_trade_notional(symbol: str) -> float:
    return AVG_TRADE_NOTIONAL.get(symbol, DEFAULT_TRADE_NOTIONAL)


class Tape:
    """Trade ids and kline statistics derived from ``data`` (see the module docstring)."""

    def __init__(self, data: MarketData) -> None:
        self.data = data

    # -- cached series ------------------------------------------------------------------------
    def _anchor(self, symbol: str) -> _Anchor | None:
        key = (str(self.data.data_dir), symbol, "anchor")
        with _lock:
            hit = _cache.get(key)
        if hit is not None:
            return hit  # type: ignore[return-value]
        interval = next((s for s in SHIPPED if self.data.has(symbol, s)), None)
        if interval is None:
            return None
        c = self.data.candles(symbol, interval)
        avg = avg_trade_notional(symbol)
        counts = []
        for i in range(len(c)):
            v = float(c.volume[i])
            if v <= 0:
                counts.append(0)
                continue
            quote = v * (float(c.high[i]) + float(c.low[i]) + float(c.close[i])) / 3
            counts.append(max(1, round(quote / avg)))
        prefix = list(itertools.accumulate(counts, initial=1))
        anchor = _Anchor(INTERVAL_MS[interval], c.open_time, counts, prefix)
        with _lock:
            _cache[key] = anchor
        return anchor

    def _fine(self, symbol: str, interval: str) -> _Fine | None:
        if not self.data.has(symbol, interval):
            return None
        key = (str(self.data.data_dir), symbol, f"fine:{interval}")
        with _lock:
            hit = _cache.get(key)
        if hit is not None:
            return hit  # type: ignore[return-value]
        c = self.data.candles(symbol, interval)
        cum = list(itertools.accumulate((float(v) for v in c.volume), initial=0.0))
        fine = _Fine(c.open_time, cum)
        with _lock:
            _cache[key] = fine
        return fine

    # -- trade ids ------------------------------------------------------------------------------
    def ids_before(self, symbol: str, t: int, fine: str | None = None) -> int:
        """Return the id of the first tape trade at or after ``t`` (ms); inside an anchor candle
        spread by the volume of the shipped ``fine`` series (by time without one)."""
        a = self._anchor(symbol)
        if a is None:
            return 1
        j = bisect.bisect_right(a.times, t) - 1
        if j < 0:
            return a.prefix[0]
        start = a.times[j]
        if t == start:
            return a.prefix[j]
        if t >= start + a.step:  # a gap in the data, or after its end: no trades there
            return a.prefix[j + 1]
        frac = (t - start) / a.step
        f = self._fine(symbol, fine) if fine else None
        if f is not None:
            lo = bisect.bisect_left(f.times, start)
            mid = bisect.bisect_left(f.times, t)
            hi = bisect.bisect_left(f.times, start + a.step)
            total = f.cum[hi] - f.cum[lo]
            if hi > lo and total > 0:
                frac = (f.cum[mid] - f.cum[lo]) / total
        frac = min(max(frac, 0.0), 1.0)
        return a.prefix[j] + min(int(a.counts[j] * frac), a.counts[j])

    def end_id(self, symbol: str) -> int:
        """Return the id after the last tape trade (where the fake's own trades continue)."""
        a = self._anchor(symbol)
        return a.prefix[-1] if a is not None else 1

    # -- klines ----------------------------------------------------------------------------------
    def source(self, symbol: str, interval: str) -> str:
        """Return the shipped interval that serves ``interval`` (itself when shipped)."""
        if self.data.has(symbol, interval):
            return interval
        ms = INTERVAL_MS[interval]
        return next(
            (
                s
                for s in SHIPPED
                if ms % INTERVAL_MS[s] == 0 and ms > INTERVAL_MS[s] and self.data.has(symbol, s)
            ),
            interval,
        )

    def stats(self, symbol: str, interval: str, row: Row) -> KlineStats:
        """Return the derived statistics of the kline ``row`` of ``interval``."""
        t = row[0]
        step = INTERVAL_MS[interval]
        src = self.source(symbol, interval)
        a = self._anchor(symbol)
        fine = src if a is not None and step < a.step else None
        first = self.ids_before(symbol, t, fine)
        count = self.ids_before(symbol, t + step, fine) - first
        if src == interval:
            rows = [row]
        else:
            c = self.data.candles(symbol, src)
            lo = bisect.bisect_left(c.open_time, t)
            hi = bisect.bisect_left(c.open_time, t + step)
            rows = [c.row(i) for i in range(lo, hi)]
        # each shipped candle's figures are rounded as served, so that an aggregated candle's
        # are exactly the sums of its candles'
        quote = taker_base = taker_quote = D(0)
        for _, o, h, lo_, c_, v in rows:
            q = D(v) * typical(h, lo_, c_)
            share = taker_share(o, h, lo_, c_)
            quote += q.quantize(QUOTE_QUANTUM)
            taker_base += (D(v) * share).quantize(_quantum(v))
            taker_quote += (q * share).quantize(QUOTE_QUANTUM)
        return KlineStats(
            quote=quote,
            count=count,
            first_id=first if count else -1,
            last_id=first + count - 1 if count else -1,
            taker_base=taker_base,
            taker_quote=taker_quote,
        )


def _quantum(volume: str) -> Decimal:
    """The smallest step of a shipped volume string ("844.251" -> 0.001)."""
    exp = D(volume).as_tuple().exponent
    return D(1).scaleb(exp if isinstance(exp, int) else 0)
