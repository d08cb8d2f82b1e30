"""Writes to market data: import kline CSV files into `Kline` rows.

Import rules (`klines_import`):

- Formats: whatever `apps.market.data.load_klines` reads (the shipped gzip CSVs and Binance
  public-data files, 6 or 12 columns, plain, gzip or zip). `load_klines` checks every row first,
  so a malformed file raises `MarketDataError` ("<file>:<line>: <problem>") before anything is
  written.
- Exact money: prices and volumes are stored as `Decimal(<the CSV text>)`, never through a
  float. A value that does not fit the column (more than 10 decimal places, or too many integer
  digits) is an error naming its line rather than a silent rounding.
- Idempotent: rows whose (symbol, interval, open_time) already exist are SKIPPED, not updated (a
  closed candle is final, and the shipped sources agree); the summary counts them. Inserts use
  `bulk_create(ignore_conflicts=True)`, so a concurrent importer of the same file cannot make
  this one fail (the `inserted` count may then include rows the other one wrote first).
- All or nothing per file: one transaction per call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
from django.db import transaction

from apps.core.domain.formatting import plain
from apps.events import publish_event
from apps.exchange.domain.types import Candle
from apps.market.data import MarketDataError, _read_text, load_klines
from apps.market.domain.candles import interval_to_ms
from apps.market.models import Kline

__all__ = ["DEFAULT_BATCH_SIZE", "ImportSummary", "klines_import"]

DEFAULT_BATCH_SIZE = 4000  # 8 parameters a row: well under PostgreSQL's 65535 per statement
ProgressCallback = Callable[[int, int], None]  # (rows done, rows to do)

_FIELDS = ("open", "high", "low", "close", "volume")
# max_digits - decimal_places of the model's columns: integer digits a value may have.
_INTEGER_DIGITS = {
    name: Kline._meta.get_field(name).max_digits - Kline._meta.get_field(name).decimal_places
    for name in _FIELDS
}
_DECIMAL_PLACES = {name: Kline._meta.get_field(name).decimal_places for name in _FIELDS}


@dataclass(frozen=True, slots=True)
class ImportSummary:
    path: Path
    symbol: str
    interval: str
    rows_in_file: int
    rows_selected: int  # after the since/until filter
    inserted: int
    skipped: int  # already in the database (left as they were)
    seconds: float
    first_open_time: int | None = None  # ms UTC of the first selected row
    last_open_time: int | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows_selected / self.seconds if self.seconds > 0 else float("inf")

    def line(self) -> str:
        """Return the one-line summary a command prints."""
        return (
            f"{self.path}: {self.symbol} {self.interval}: {self.inserted} inserted, "
            f"{self.skipped} skipped, {self.rows_selected} of {self.rows_in_file} rows selected, "
            f"{self.seconds:.2f} s ({self.rows_per_second:,.0f} rows/s)"
        )


def _data_lines(text: str) -> list[tuple[int, str]]:
    """Return (line number, line) of the data rows: the header and blank lines dropped."""
    out: list[tuple[int, str]] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if not out and not line.lstrip()[:1].isdigit():
            continue  # the header (load_klines has checked it)
        out.append((line_no, line))
    return out


def _exact(path: Path, line_no: int, name: str, text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise MarketDataError(
            f"{path}:{line_no}: {name} {text.strip()!r} is not a number"
        ) from None
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int):
        raise MarketDataError(f"{path}:{line_no}: {name} is not finite")
    if -exponent > _DECIMAL_PLACES[name]:
        value = value.normalize()  # trailing zeros: 1.500000000000 -> 1.5
        if -int(value.as_tuple().exponent) > _DECIMAL_PLACES[name]:
            raise MarketDataError(
                f"{path}:{line_no}: {name} {text.strip()} has more than "
                f"{_DECIMAL_PLACES[name]} decimal places (it would be rounded)"
            )
    if value.adjusted() + 1 > _INTEGER_DIGITS[name]:
        raise MarketDataError(f"{path}:{line_no}: {name} {text.strip()} is too large")
    return value


def klines_import(
    *,
    path: str | Path,
    symbol: str | None = None,
    interval: str | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressCallback | None = None,
) -> ImportSummary:
    """Import one kline file (see the module docstring) in one transaction.

    `since_ms` (inclusive) and `until_ms` (exclusive) select rows by open time, ms UTC.
    `progress(done, total)` is called as rows are checked and written. Raise `MarketDataError`
    (one line naming file and line) on a bad file; nothing of that file is then written.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    started = time.perf_counter()
    path = Path(path)
    klines = load_klines(path, symbol=symbol, interval=interval)
    lines = _data_lines(_read_text(path))
    if len(lines) != len(klines):  # load_klines accepted it: this would be a bug here
        raise MarketDataError(f"{path}: found {len(lines)} data rows, the loader {len(klines)}")
    mask = np.ones(len(klines), dtype=bool)
    if since_ms is not None:
        mask &= klines.open_time >= since_ms
    if until_ms is not None:
        mask &= klines.open_time < until_ms
    selected = np.flatnonzero(mask)
    total = int(selected.size)
    first = int(klines.open_time[selected[0]]) if total else None
    last = int(klines.open_time[selected[-1]]) if total else None
    inserted = skipped = 0
    with transaction.atomic():
        existing: set[int] = set()
        if total:
            existing = set(
                Kline.objects.filter(
                    symbol=klines.symbol,
                    interval=klines.interval,
                    open_time__gte=first,
                    open_time__lte=last,
                ).values_list("open_time", flat=True)
            )
        skipped = sum(1 for t in klines.open_time[selected].tolist() if t in existing)
        done = skipped
        if progress is not None:
            progress(done, total)
        batch: list[Kline] = []
        for index in selected.tolist():
            open_time = int(klines.open_time[index])
            if open_time in existing:
                continue
            line_no, line = lines[index]
            fields = line.split(",")
            values = {
                name: _exact(path, line_no, name, fields[k])
                for k, name in enumerate(_FIELDS, start=1)
            }
            batch.append(
                Kline(symbol=klines.symbol, interval=klines.interval, open_time=open_time, **values)
            )
            if len(batch) >= batch_size:
                Kline.objects.bulk_create(batch, batch_size=batch_size, ignore_conflicts=True)
                inserted += len(batch)
                done += len(batch)
                batch = []
                if progress is not None:
                    progress(done, total)
        if batch:
            Kline.objects.bulk_create(batch, batch_size=batch_size, ignore_conflicts=True)
            inserted += len(batch)
            done += len(batch)
        if progress is not None:
            progress(done, total)
    return ImportSummary(
        path=path,
        symbol=klines.symbol,
        interval=klines.interval,
        rows_in_file=len(klines),
        rows_selected=total,
        inserted=inserted,
        skipped=skipped,
        seconds=time.perf_counter() - started,
        first_open_time=first,
        last_open_time=last,
    )


def klines_store(*, symbol: str, interval: str, candles: list[Candle], now: datetime) -> int:
    """Store the closed candles among ``candles`` (from an exchange); return how many were new.

    A candle is closed when its close time is not after ``now``; closed candles are final, so
    rows already stored are kept as they are (idempotent, like the file import).
    """
    step = timedelta(milliseconds=interval_to_ms(interval))
    rows = [
        Kline(
            symbol=symbol,
            interval=interval,
            open_time=int(c.open_time.timestamp() * 1000),
            open=c.open,
            high=c.high,
            low=c.low,
            close=c.close,
            volume=c.volume,
        )
        for c in candles
        if (c.close_time or c.open_time + step) <= now
    ]
    before = Kline.objects.filter(symbol=symbol, interval=interval).count()
    Kline.objects.bulk_create(rows, ignore_conflicts=True)
    added = Kline.objects.filter(symbol=symbol, interval=interval).count() - before
    if added and rows:  # the dashboards' price charts extend by the newest closed candle
        newest = max(rows, key=lambda row: row.open_time)
        publish_event(
            "candle",
            {
                "symbol": symbol,
                "interval": interval,
                "open_time": newest.open_time,
                **{f: plain(getattr(newest, f)) for f in ("open", "high", "low", "close")},
                "volume": plain(newest.volume),
            },
        )
    return added


def funding_import(
    *, path: str | Path, since_ms: int | None = None, until_ms: int | None = None
) -> int:
    """Import a funding-rate file (the shipped format or Binance's); return the rows added.
    Idempotent: settled rates are final, rows already stored are kept."""
    from apps.market.data import load_funding
    from apps.market.models import FundingRate

    rates = load_funding(path)
    keep = np.ones(len(rates), dtype=bool)
    if since_ms is not None:
        keep &= rates.funding_time >= since_ms
    if until_ms is not None:
        keep &= rates.funding_time < until_ms
    rows = [
        FundingRate(symbol=rates.symbol, funding_time=int(t), rate=Decimal(repr(float(r))))
        for t, r in zip(rates.funding_time[keep], rates.funding_rate[keep], strict=True)
    ]
    before = FundingRate.objects.filter(symbol=rates.symbol).count()
    with transaction.atomic():
        FundingRate.objects.bulk_create(rows, ignore_conflicts=True, batch_size=2000)
    return FundingRate.objects.filter(symbol=rates.symbol).count() - before
