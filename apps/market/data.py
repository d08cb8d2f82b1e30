"""Load kline and funding-rate CSV files (plain, gzip or zip) into numpy arrays.

Kline formats read:
- the shipped data (``shared/data``): header ``open_time,open,high,low,close,volume``;
- Binance public data (data.binance.vision): 12 columns ``open_time, open, high, low, close,
  volume, close_time, quote_volume, count, taker_buy_volume, taker_buy_quote_volume, ignore``,
  with or without that header; only the first six columns are kept.

``open_time`` may be in ms or in µs (Binance spot files from 2025 on); values of 10**14 or more
are taken as µs and converted to ms. The symbol and interval come from the file name:
``<SYMBOL>-<interval>.csv[.gz|.zip]`` or Binance's ``<SYMBOL>-<interval>-<YYYY-MM[-DD]>.csv``;
pass ``symbol=`` / ``interval=`` for other names.

Rows must be well formed: the expected number of columns, numbers that parse, finite positive
prices, ``low <= min(open, close)``, ``high >= max(open, close)``, volume >= 0 and strictly
increasing open times. The first bad row raises ``MarketDataError`` with a one-line message
``<file>:<line>: <problem>`` (line numbers count from 1, the header included).
"""

from __future__ import annotations

import gzip
import io
import math
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = [
    "FundingRates",
    "Klines",
    "MarketDataError",
    "load_funding",
    "load_klines",
    "parse_kline_file_name",
]

KLINE_COLUMNS = ("open_time", "open", "high", "low", "close", "volume")
BINANCE_KLINE_COLUMNS = (
    *KLINE_COLUMNS,
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)
_US_THRESHOLD = 10**14  # open times at or above this are µs (10**14 ms is year 5138)
_KLINE_NAME = re.compile(
    r"^(?P<symbol>[A-Za-z0-9]+)-(?P<interval>\d+[smhdwM])(?:-\d{4}-\d{2}(?:-\d{2})?)?"
    r"\.(?:csv(?:\.gz)?|zip)$"
)
_FUNDING_NAME = re.compile(
    r"^(?P<symbol>[A-Za-z0-9]+)-(?:funding|fundingRate)(?:-\d{4}-\d{2})?\.(?:csv(?:\.gz)?|zip)$"
)
_INTERVAL = re.compile(r"^\d+[smhdwM]$")


from apps.market.domain.candles import Klines  # noqa: E402  (re-exported: the loader returns it)


class MarketDataError(ValueError):
    """A market-data file is missing, unreadable or malformed (message names file and line)."""


@dataclass(frozen=True, slots=True, eq=False)
class FundingRates:
    """Funding rates of one symbol: time in ms UTC, rate per funding interval as a fraction."""

    symbol: str
    funding_time: NDArray[np.int64]
    funding_rate: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.funding_time.size)


def parse_kline_file_name(path: str | Path) -> tuple[str, str]:
    """Return ``(symbol, interval)`` from a kline file name; raise ``MarketDataError``."""
    name = Path(path).name
    match = _KLINE_NAME.match(name)
    if not match:
        raise MarketDataError(
            f"{path}: cannot infer symbol and interval from the file name "
            "(expected <SYMBOL>-<interval>.csv[.gz]); pass symbol= and interval="
        )
    return match.group("symbol").upper(), match.group("interval")


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MarketDataError(f"{path}: cannot read file: {exc.strerror or exc}") from exc
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        elif raw[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                members = [m for m in archive.namelist() if m.lower().endswith(".csv")]
                if len(members) != 1:
                    raise MarketDataError(f"{path}: expected one .csv inside the zip archive")
                raw = archive.read(members[0])
        return raw.decode("utf-8-sig")
    except (OSError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise MarketDataError(f"{path}: cannot decode file: {exc}") from exc


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _split_header(path: Path, text: str, expected: tuple[str, ...]) -> tuple[bool, int]:
    """Return ``(has_header, n_columns)`` from the first non-blank line."""
    first = next((line for line in io.StringIO(text) if line.strip()), None)
    if first is None:
        raise MarketDataError(f"{path}: file is empty")
    fields = [f.strip() for f in first.split(",")]
    if _is_number(fields[0]):
        return False, len(fields)
    names = tuple(f.lower().replace(" ", "_") for f in fields)
    if names[: len(expected)] != expected:
        raise MarketDataError(
            f"{path}:1: unexpected header {first.strip()!r} (expected {','.join(expected)})"
        )
    return True, len(fields)


def _scan_kline_rows(path: Path, text: str, has_header: bool, n_columns: int) -> None:
    """Check every row the slow way and raise on the first bad one."""
    previous_time: int | None = None
    for line_no, line in enumerate(text.splitlines(), start=1):
        if (has_header and line_no == 1) or not line.strip():
            continue
        where = f"{path}:{line_no}"
        fields = line.split(",")
        if len(fields) != n_columns:
            raise MarketDataError(f"{where}: expected {n_columns} columns, found {len(fields)}")
        try:
            open_time = int(fields[0])
        except ValueError:
            raise MarketDataError(
                f"{where}: open_time {fields[0].strip()!r} is not an integer"
            ) from None
        values = []
        for name, field in zip(KLINE_COLUMNS[1:], fields[1:6], strict=True):
            try:
                value = float(field)
            except ValueError:
                raise MarketDataError(
                    f"{where}: {name} {field.strip()!r} is not a number"
                ) from None
            if not math.isfinite(value):
                raise MarketDataError(f"{where}: {name} is not finite")
            values.append(value)
        o, h, lo, c, v = values
        if min(o, h, lo, c) <= 0.0:
            raise MarketDataError(f"{where}: prices must be positive")
        if lo > min(o, c) or h < max(o, c):
            raise MarketDataError(f"{where}: low/high do not contain open and close")
        if v < 0.0:
            raise MarketDataError(f"{where}: volume is negative")
        if open_time >= _US_THRESHOLD:
            open_time //= 1000
        if previous_time is not None and open_time <= previous_time:
            raise MarketDataError(f"{where}: open_time {open_time} is not after the previous row")
        previous_time = open_time
    if previous_time is None:
        raise MarketDataError(f"{path}: no data rows")


def _rows_valid(frame: pd.DataFrame) -> bool:
    o, h, lo, c, v = (frame[i].to_numpy() for i in range(1, 6))
    with np.errstate(invalid="ignore"):
        ok = bool(
            np.isfinite(o).all()
            and np.isfinite(h).all()
            and np.isfinite(lo).all()
            and np.isfinite(c).all()
            and np.isfinite(v).all()
            and (lo > 0.0).all()
            and (lo <= np.minimum(o, c)).all()
            and (h >= np.maximum(o, c)).all()
            and (v >= 0.0).all()
        )
    return ok


def load_klines(
    path: str | Path, *, symbol: str | None = None, interval: str | None = None
) -> Klines:
    """Load a kline CSV (see the module docstring); raise ``MarketDataError`` on bad input."""
    path = Path(path)
    if symbol is None or interval is None:
        inferred_symbol, inferred_interval = parse_kline_file_name(path)
        symbol = symbol or inferred_symbol
        interval = interval or inferred_interval
    if not _INTERVAL.match(interval):
        raise MarketDataError(f"{path}: invalid interval {interval!r}")
    text = _read_text(path)
    has_header, n_columns = _split_header(path, text, KLINE_COLUMNS)
    if n_columns not in (len(KLINE_COLUMNS), len(BINANCE_KLINE_COLUMNS)):
        raise MarketDataError(f"{path}:1: expected 6 or 12 columns, found {n_columns}")
    frame: pd.DataFrame | None
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            header=None,
            skiprows=1 if has_header else 0,
            usecols=range(6),
            dtype={
                0: np.int64,
                1: np.float64,
                2: np.float64,
                3: np.float64,
                4: np.float64,
                5: np.float64,
            },
            engine="c",
        )
    except (ValueError, pd.errors.ParserError, OverflowError):
        frame = None
    if frame is not None:
        # pandas ignores surplus columns when usecols is given: count the separators instead.
        rows = len(frame) + (1 if has_header else 0)
        if text.count(",") != rows * (n_columns - 1):
            frame = None
    if frame is not None:
        open_time = frame[0].to_numpy(dtype=np.int64)
        open_time = np.where(open_time >= _US_THRESHOLD, open_time // 1000, open_time)
        if not (_rows_valid(frame) and (open_time.size < 2 or (np.diff(open_time) > 0).all())):
            frame = None
    if frame is None:
        _scan_kline_rows(path, text, has_header, n_columns)
        raise MarketDataError(f"{path}: malformed kline file")  # the scan names the line
    return Klines(
        symbol=symbol.upper(),
        interval=interval,
        open_time=np.ascontiguousarray(open_time),
        open=np.ascontiguousarray(frame[1].to_numpy(dtype=np.float64)),
        high=np.ascontiguousarray(frame[2].to_numpy(dtype=np.float64)),
        low=np.ascontiguousarray(frame[3].to_numpy(dtype=np.float64)),
        close=np.ascontiguousarray(frame[4].to_numpy(dtype=np.float64)),
        volume=np.ascontiguousarray(frame[5].to_numpy(dtype=np.float64)),
    )


def load_funding(path: str | Path, *, symbol: str | None = None) -> FundingRates:
    """Load funding rates: ``funding_time,funding_rate`` (shipped data) or Binance's
    ``calc_time,funding_interval_hours,last_funding_rate``; raise ``MarketDataError``."""
    path = Path(path)
    if symbol is None:
        match = _FUNDING_NAME.match(path.name)
        if not match:
            raise MarketDataError(
                f"{path}: cannot infer the symbol from the file name "
                "(expected <SYMBOL>-funding.csv[.gz]); pass symbol="
            )
        symbol = match.group("symbol")
    text = _read_text(path)
    lines = text.splitlines()
    header = [f.strip().lower() for f in lines[0].split(",")] if lines else []
    if header[:2] == ["funding_time", "funding_rate"]:
        time_col, rate_col = 0, 1
    elif header[:3] == ["calc_time", "funding_interval_hours", "last_funding_rate"]:
        time_col, rate_col = 0, 2
    else:
        raise MarketDataError(
            f"{path}:1: unexpected header (expected funding_time,funding_rate or "
            "calc_time,funding_interval_hours,last_funding_rate)"
        )
    times: list[int] = []
    rates: list[float] = []
    for line_no, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != len(header):
            raise MarketDataError(
                f"{path}:{line_no}: expected {len(header)} columns, found {len(fields)}"
            )
        try:
            t = int(fields[time_col])
            r = float(fields[rate_col])
        except ValueError:
            raise MarketDataError(f"{path}:{line_no}: not a number") from None
        if not math.isfinite(r):
            raise MarketDataError(f"{path}:{line_no}: funding rate is not finite")
        if t >= _US_THRESHOLD:
            t //= 1000
        if times and t <= times[-1]:
            raise MarketDataError(f"{path}:{line_no}: funding_time is not after the previous row")
        times.append(t)
        rates.append(r)
    return FundingRates(
        symbol=symbol.upper(),
        funding_time=np.asarray(times, dtype=np.int64),
        funding_rate=np.asarray(rates, dtype=np.float64),
    )
