"""Read the shipped Binance klines and funding rates (gzip CSV) and serve Binance-shaped klines.

Files are parsed once per process and cached. Intervals that are not shipped are aggregated from
the coarsest shipped interval that divides them (e.g. 15m from 5m, 4h from 1h).
"""

from __future__ import annotations

import bisect
import csv
import gzip
import threading
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
INTERVAL_MS: dict[str, int] = {
    "1m": MINUTE,
    "3m": 3 * MINUTE,
    "5m": 5 * MINUTE,
    "15m": 15 * MINUTE,
    "30m": 30 * MINUTE,
    "1h": HOUR,
    "2h": 2 * HOUR,
    "4h": 4 * HOUR,
    "6h": 6 * HOUR,
    "8h": 8 * HOUR,
    "12h": 12 * HOUR,
    "1d": DAY,
    "3d": 3 * DAY,
    "1w": 7 * DAY,
}
SHIPPED = ("1h", "5m", "1m")  # coarsest first
WEEK_OFFSET = 4 * DAY  # Binance weeks start on Monday; 1970-01-01 was a Thursday


def default_data_dir() -> Path:
    """Return ``<repo>/../shared/data`` (the repo root is four levels above this file)."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"  # <repo>/../shared


@dataclass(frozen=True)
class Candles:
    """Parallel columns of one symbol/interval series (prices kept as the file's strings)."""

    open_time: list[int]
    open: list[str]
    high: list[str]
    low: list[str]
    close: list[str]
    volume: list[str]

    def __len__(self) -> int:
        return len(self.open_time)

    def row(self, i: int) -> tuple[int, str, str, str, str, str]:
        return (
            self.open_time[i],
            self.open[i],
            self.high[i],
            self.low[i],
            self.close[i],
            self.volume[i],
        )


_cache: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


def _read_candles(path: Path) -> Candles:
    cols: tuple[list, ...] = ([], [], [], [], [], [])
    with gzip.open(path, "rt", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        if header[:6] != ["open_time", "open", "high", "low", "close", "volume"]:
            raise ValueError(f"unexpected header in {path}: {header}")
        for row in reader:
            cols[0].append(int(row[0]))
            for j in range(1, 6):
                cols[j].append(row[j])
    return Candles(*cols)


def _aggregate(src: Candles, interval_ms: int) -> Candles:
    offset = WEEK_OFFSET if interval_ms == INTERVAL_MS["1w"] else 0
    out: tuple[list, ...] = ([], [], [], [], [], [])
    bucket = None
    hi = lo = vol = Decimal(0)
    for i in range(len(src)):
        t = src.open_time[i]
        b = (t - offset) // interval_ms * interval_ms + offset
        h, low, v = Decimal(src.high[i]), Decimal(src.low[i]), Decimal(src.volume[i])
        if b != bucket:
            if bucket is not None:
                out[2].append(str(hi))
                out[3].append(str(lo))
                out[5].append(str(vol))
            bucket = b
            out[0].append(b)
            out[1].append(src.open[i])
            out[4].append(src.close[i])
            hi, lo, vol = h, low, v
        else:
            out[4][-1] = src.close[i]
            hi, lo, vol = max(hi, h), min(lo, low), vol + v
    if bucket is not None:
        out[2].append(str(hi))
        out[3].append(str(lo))
        out[5].append(str(vol))
    return Candles(*out)


class MarketData:
    """Access to the shipped futures files under ``data_dir``."""

    def __init__(self, data_dir: Path | str | None = None) -> None:
        self.data_dir = Path(data_dir) if data_dir else default_data_dir()

    def _path(self, symbol: str, name: str) -> Path:
        return self.data_dir / "futures" / f"{symbol}-{name}.csv.gz"

    def has(self, symbol: str, interval: str) -> bool:
        return self._path(symbol, interval).exists()

    def candles(self, symbol: str, interval: str) -> Candles:
        """Return the candles for ``interval``; raise KeyError if no shipped file can serve it."""
        key = (str(self._path(symbol, interval)), interval)
        with _lock:
            hit = _cache.get(key)
        if hit is not None:
            return hit
        if self.has(symbol, interval):
            result = _read_candles(self._path(symbol, interval))
        else:
            ms = INTERVAL_MS.get(interval)
            base = next(
                (
                    s
                    for s in SHIPPED
                    if ms
                    and ms % INTERVAL_MS[s] == 0
                    and ms > INTERVAL_MS[s]
                    and self.has(symbol, s)
                ),
                None,
            )
            if base is None:
                raise KeyError(f"no data for {symbol} {interval}")
            result = _aggregate(self.candles(symbol, base), ms)  # type: ignore[arg-type]
        with _lock:
            _cache[key] = result
        return result

    def funding(self, symbol: str) -> tuple[list[int], list[str]]:
        """Return (funding_time ms, rate string) columns; empty when no file is shipped."""
        path = self._path(symbol, "funding")
        key = (str(path), "funding")
        with _lock:
            hit = _cache.get(key)
        if hit is not None:
            return hit
        times: list[int] = []
        rates: list[str] = []
        if path.exists():
            with gzip.open(path, "rt", newline="") as fh:
                reader = csv.reader(fh)
                next(reader)
                for row in reader:
                    times.append(int(row[0]))
                    rates.append(row[1])
        with _lock:
            _cache[key] = (times, rates)
        return times, rates

    def funding_rate_at(self, symbol: str, time_ms: int) -> Decimal:
        """Return the last shipped rate at or before ``time_ms`` (0.0001 if there is none)."""
        times, rates = self.funding(symbol)
        i = bisect.bisect_right(times, time_ms) - 1
        return Decimal(rates[i]) if i >= 0 else Decimal("0.0001")

    def select(
        self,
        symbol: str,
        interval: str,
        start: int | None,
        end: int | None,
        limit: int,
        now: int,
    ) -> list[tuple[int, str, str, str, str, str]]:
        """Select rows as Binance does: from ``start`` forward, else the last ``limit`` to ``end``.

        Candles opening after ``now`` (the fake's market clock) are never returned.
        """
        c = self.candles(symbol, interval)
        end = now if end is None else min(end, now)
        hi = bisect.bisect_right(c.open_time, end)
        if start is not None:
            lo = bisect.bisect_left(c.open_time, start)
            hi = min(hi, lo + limit)
        else:
            lo = max(0, hi - limit)
        return [c.row(i) for i in range(lo, max(lo, hi))]

    def last_close(self, symbol: str) -> tuple[int, Decimal]:
        """Return (close time ms, close price) of the last shipped 1h (else 1m) candle."""
        interval = "1h" if self.has(symbol, "1h") else "1m"
        if not self.has(symbol, interval):
            raise FileNotFoundError(
                f"no shipped 1h or 1m candles for {symbol} under {self.data_dir}"
            )
        c = self.candles(symbol, interval)
        return c.open_time[-1] + INTERVAL_MS[interval], Decimal(c.close[-1])
