"""The data rules of the risk readings, once: which candles CryptoVIX and the correlation gate
read at a moment, when those candles are too old or too few, and how long a reading serves.

Live and paper trading read the candles from the ``Kline`` table (``apps.risk.services``, which
adds the cache); the exchange-mode backtest reads them from the candles it was handed
(``apps.backtest.exchange_mode.domain.market``). Both call these functions, so both see the same
readings at the same moment.

- The last closed candle at ``now`` is the one that opened ``interval`` before the last
  boundary (``last_closed_open_time``).
- CryptoVIX: the last ``vix.lookback`` candles opened at or before it.
- Correlation: each symbol's last ``2 * lookback`` candles up to it (so a few missing candles
  still leave ``lookback`` common ones), ``portfolio.correlation_matrix`` over them with at
  least ``CORRELATION_MIN_RETURNS`` returns.
- Stale: the newest candle (of a symbol, or the newest common one) opened more than
  ``MAX_MISSING_CANDLES`` candles before the last closed one. Stale, too few or unusable
  candles raise ``RiskDataError`` with a one-line reason (the gate then sizes with multiplier 1
  and lets the entry through: ``block_on_missing_correlation=False``).
- A VIX reading serves ``VIX_TTL``, a correlation matrix ``CORRELATION_TTL`` of the injected
  clock from when it was computed (a failure is never kept).

Pure: no Django, no I/O; the candles come from a ``KlineSource``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from apps.market.domain.candles import Klines, interval_to_ms, last_closed_open_time
from apps.risk.domain.portfolio import CorrelationMatrix, correlation_matrix
from apps.risk.domain.vix import CryptoVIX, VixReading

__all__ = [
    "CORRELATION_MIN_RETURNS",
    "CORRELATION_TTL",
    "MAX_MISSING_CANDLES",
    "VIX_TTL",
    "KlineSource",
    "RiskDataError",
    "correlation_read",
    "last_closed_open_time",
    "vix_read",
]

VIX_TTL = timedelta(minutes=5)
CORRELATION_TTL = timedelta(hours=1)
MAX_MISSING_CANDLES = 3  # the newest candle may lag the last closed one by this many
CORRELATION_MIN_RETURNS = 20
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


class KlineSource(Protocol):
    """Where candles come from: the ``Kline`` table or a backtest's arrays."""

    def __call__(self, *, symbol: str, interval: str, end_ms: int | None, limit: int) -> Klines:
        """The last ``limit`` candles opened at or before ``end_ms``, ascending."""
        ...


class RiskDataError(ValueError):
    """Too few or too old candles to compute a risk figure (one-line message)."""


def _iso(ms: int) -> str:
    return (_EPOCH + ms * _MS).strftime("%Y-%m-%dT%H:%MZ")


def _check_lag(
    what: str, symbol: str, interval: str, latest_ms: int | None, last_closed_ms: int
) -> None:
    if latest_ms is None:
        raise RiskDataError(f"{what}: no {symbol} {interval} candles up to {_iso(last_closed_ms)}")
    if latest_ms < last_closed_ms - MAX_MISSING_CANDLES * interval_to_ms(interval):
        raise RiskDataError(
            f"{what}: the newest {symbol} {interval} candle opened {_iso(latest_ms)}, more than "
            f"{MAX_MISSING_CANDLES} candles before the last closed one ({_iso(last_closed_ms)})"
        )


def vix_read(
    source: KlineSource, *, vix: CryptoVIX, symbol: str, interval: str, last_closed: int
) -> VixReading:
    """CryptoVIX over the candles closed at ``last_closed``; ``RiskDataError`` if it cannot be
    read."""
    klines = source(symbol=symbol, interval=interval, end_ms=last_closed, limit=vix.lookback)
    latest = int(klines.open_time[-1]) if len(klines) else None
    _check_lag("CryptoVIX", symbol, interval, latest, last_closed)
    try:
        return vix.score(klines.high, klines.low, klines.open, klines.close)
    except ValueError as exc:
        raise RiskDataError(f"CryptoVIX on {symbol} {interval}: {exc}") from exc


def correlation_read(
    source: KlineSource,
    *,
    symbols: Iterable[str],
    lookback: int,
    interval: str,
    last_closed: int,
    min_returns: int = CORRELATION_MIN_RETURNS,
) -> CorrelationMatrix:
    """The correlation matrix of ``symbols`` over the last ``lookback`` common closed candles;
    ``RiskDataError`` if it cannot be computed."""
    series = {}
    for name in symbols:
        klines = source(symbol=name, interval=interval, end_ms=last_closed, limit=2 * lookback)
        latest = int(klines.open_time[-1]) if len(klines) else None
        _check_lag("correlation", name, interval, latest, last_closed)
        series[name] = (klines.open_time, klines.close)
    try:
        matrix = correlation_matrix(series, lookback, min_returns)
    except ValueError as exc:
        raise RiskDataError(f"correlation on {interval} candles: {exc}") from exc
    _check_lag("correlation", "common", interval, matrix.end_time_ms, last_closed)
    return matrix
