"""Candles of the exchange-mode backtest: exact prices for the simulator, float windows for the
strategy, and the CryptoVIX and correlation figures the risk gate reads.

The live loop reads all three from the ``Kline`` table: the strategy's window as float64
(``klines_window`` casts in the database), the simulated exchange's candles as exact Decimals,
and CryptoVIX (BTCUSDT 1h) and the correlation matrix (1h closes) through
``apps.risk.services``. Here the same figures come from the candles handed in, read by the same
rules: ``apps.risk.domain.readings`` (which candles, when they are stale, ``RiskDataError`` ->
no reading: the live loop then sizes with multiplier 1 and lets the entry through).

A VIX reading depends only on the last closed candle, so the services' 5-minute cache changes
nothing. The services cache a correlation matrix for ``CORRELATION_TTL`` of the injected clock
under the symbol set alone, so a bot on a shorter timeframe reuses it across candles:
``HourCache`` keeps that rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np

from apps.exchange.domain.types import Candle, datetime_to_ms, ms_to_datetime
from apps.market.domain.candles import Klines, interval_to_ms
from apps.risk.domain.portfolio import CorrelationMatrix
from apps.risk.domain.readings import (
    CORRELATION_TTL,
    MAX_MISSING_CANDLES,
    KlineSource,
    RiskDataError,
    correlation_read,
    last_closed_open_time,
    vix_read,
)
from apps.risk.domain.vix import CryptoVIX, VixReading

__all__ = [
    "CORRELATION_TTL",
    "MAX_MISSING_CANDLES",
    "HourCache",
    "Series",
    "candles_from_klines",
    "candles_from_rows",
    "correlation_reading",
    "vix_reading",
]


@dataclass(frozen=True, slots=True, eq=False)
class Series:
    """One symbol's candles: exact (``candles``) and as float64 arrays (``klines``)."""

    candles: tuple[Candle, ...]
    klines: Klines

    @classmethod
    def of(cls, symbol: str, interval: str, candles: Sequence[Candle]) -> Series:
        rows = tuple(candles)
        times = np.fromiter(
            (datetime_to_ms(c.open_time) for c in rows), dtype=np.int64, count=len(rows)
        )
        if times.size > 1 and not bool(np.all(np.diff(times) > 0)):
            raise ValueError(f"{symbol} {interval}: candle open times must increase")
        prices = np.array(
            [
                (float(c.open), float(c.high), float(c.low), float(c.close), float(c.volume))
                for c in rows
            ],
            dtype=np.float64,
        ).reshape(len(rows), 5)
        klines = Klines(
            symbol=symbol,
            interval=interval,
            open_time=times,
            open=np.ascontiguousarray(prices[:, 0]),
            high=np.ascontiguousarray(prices[:, 1]),
            low=np.ascontiguousarray(prices[:, 2]),
            close=np.ascontiguousarray(prices[:, 3]),
            volume=np.ascontiguousarray(prices[:, 4]),
        )
        return cls(rows, klines)

    def upto(self, end_ms: int) -> int:
        """The number of candles opened at or before ``end_ms``."""
        return int(np.searchsorted(self.klines.open_time, end_ms, side="right"))

    def window(self, end_ms: int, limit: int) -> Klines:
        """The last ``limit`` candles opened at or before ``end_ms`` (``klines_window``)."""
        stop = self.upto(end_ms)
        return self.klines.slice(max(0, stop - limit), stop)


def candles_from_rows(
    rows: Iterable[Mapping[str, str]],
    interval: str,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> list[Candle]:
    """Exact candles from CSV rows (``open_time,open,high,low,close,volume``: the shipped
    files, read with ``csv.DictReader``) opened in ``[start_ms, end_ms)``, each price parsed
    from its text as ``klines_import`` stores it."""
    step = timedelta(milliseconds=interval_to_ms(interval))
    out = []
    for row in rows:
        t = int(row["open_time"])
        if (start_ms is not None and t < start_ms) or (end_ms is not None and t >= end_ms):
            continue
        opened = ms_to_datetime(t)
        out.append(
            Candle(
                opened,
                Decimal(row["open"]),
                Decimal(row["high"]),
                Decimal(row["low"]),
                Decimal(row["close"]),
                Decimal(row["volume"]),
                opened + step,
            )
        )
    return out


def candles_from_klines(klines: Klines) -> list[Candle]:
    """Exact candles from float64 series, each price by its shortest repr (the CSV text of
    Binance's files): for callers that only hold the float loader's ``Klines``."""
    step = timedelta(milliseconds=interval_to_ms(klines.interval))
    out = []
    for t, o, h, lo, c, v in zip(
        klines.open_time.tolist(),
        klines.open.tolist(),
        klines.high.tolist(),
        klines.low.tolist(),
        klines.close.tolist(),
        klines.volume.tolist(),
        strict=True,
    ):
        opened = ms_to_datetime(int(t))
        out.append(
            Candle(
                open_time=opened,
                close_time=opened + step,
                open=Decimal(repr(o)),
                high=Decimal(repr(h)),
                low=Decimal(repr(lo)),
                close=Decimal(repr(c)),
                volume=Decimal(repr(v)),
            )
        )
    return out


def _source(hourly: Mapping[str, Series]) -> KlineSource:
    def read(*, symbol: str, interval: str, end_ms: int | None, limit: int) -> Klines:
        series = hourly.get(symbol)
        if series is None:
            raise RiskDataError(f"no {symbol} {interval} candles in the backtest")
        return series.window(end_ms if end_ms is not None else 2**62, limit)

    return read


def _last_closed_hour(now: datetime) -> int:
    return last_closed_open_time(interval="1h", now_ms=datetime_to_ms(now))


def vix_reading(hourly: Series | None, vix: CryptoVIX, now: datetime) -> VixReading | None:
    """The CryptoVIX reading over the BTCUSDT 1h candles closed at ``now``, or None."""
    if hourly is None:
        return None
    try:
        return vix_read(
            _source({"BTCUSDT": hourly}),
            vix=vix,
            symbol="BTCUSDT",
            interval="1h",
            last_closed=_last_closed_hour(now),
        )
    except RiskDataError:
        return None


def correlation_reading(
    hourly: Mapping[str, Series], symbols: Sequence[str], lookback: int, now: datetime
) -> CorrelationMatrix | None:
    """The correlation matrix of ``symbols`` over 1h closes up to ``now``, or None."""
    try:
        return correlation_read(
            _source(hourly),
            symbols=symbols,
            lookback=lookback,
            interval="1h",
            last_closed=_last_closed_hour(now),
        )
    except RiskDataError:
        return None


class HourCache:
    """The services' correlation cache: an entry stored at ``t`` serves ``[t, t + 1h)``."""

    def __init__(self) -> None:
        self._entries: dict[tuple[int, tuple[str, ...]], tuple[datetime, CorrelationMatrix]] = {}

    def get(
        self, hourly: Mapping[str, Series], symbols: Sequence[str], lookback: int, now: datetime
    ) -> CorrelationMatrix | None:
        key = (lookback, tuple(symbols))
        entry = self._entries.get(key)
        if entry is not None and entry[0] <= now < entry[0] + CORRELATION_TTL:
            return entry[1]
        matrix = correlation_reading(hourly, symbols, lookback, now)
        if matrix is not None:  # a failure is not cached (the services raise before storing)
            self._entries[key] = (now, matrix)
        return matrix
