"""Kline and funding loaders: formats, inference from file names, one-line errors."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import numpy as np
import pytest

from apps.market.data import (
    MarketDataError,
    load_funding,
    load_klines,
    parse_kline_file_name,
)

HEADER = "open_time,open,high,low,close,volume\n"
ROWS = [
    "1700000000000,100.0,101.5,99.5,101.0,12.5",
    "1700000060000,101.0,102.0,100.0,100.5,0",
    "1700000120000,100.5,100.5,100.5,100.5,3",
]
BINANCE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_volume,taker_buy_quote_volume,ignore\n"
)


def _binance_row(row: str, micro: bool = False) -> str:
    t, *rest = row.split(",")
    t = str(int(t) * 1000) if micro else t
    return ",".join([t, *rest, str(int(t) + 59_999), "1234.5", "42", "6.0", "600.1", "0"])


def _assert_rows(k) -> None:
    assert k.open_time.dtype == np.int64 and k.close.dtype == np.float64
    assert k.open_time.tolist() == [1700000000000, 1700000060000, 1700000120000]
    assert k.open.tolist() == [100.0, 101.0, 100.5]
    assert k.high.tolist() == [101.5, 102.0, 100.5]
    assert k.low.tolist() == [99.5, 100.0, 100.5]
    assert k.close.tolist() == [101.0, 100.5, 100.5]
    assert k.volume.tolist() == [12.5, 0.0, 3.0]


def test_load_klines_plain_csv(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-1m.csv"
    path.write_text(HEADER + "\n".join(ROWS) + "\n")
    k = load_klines(path)
    assert (k.symbol, k.interval, len(k)) == ("BTCUSDT", "1m", 3)
    _assert_rows(k)


def test_load_klines_gzip_csv(tmp_path: Path) -> None:
    path = tmp_path / "ETHUSDT-5m.csv.gz"
    path.write_bytes(gzip.compress((HEADER + "\n".join(ROWS)).encode()))
    k = load_klines(path)
    assert (k.symbol, k.interval) == ("ETHUSDT", "5m")
    _assert_rows(k)


@pytest.mark.parametrize("with_header", [True, False])
@pytest.mark.parametrize("micro", [False, True])
def test_load_klines_binance_public_format(tmp_path: Path, with_header, micro) -> None:
    path = tmp_path / "SOLUSDT-1m-2025-01.csv"
    body = "\n".join(_binance_row(r, micro) for r in ROWS) + "\n"
    path.write_text((BINANCE_HEADER if with_header else "") + body)
    k = load_klines(path)
    assert (k.symbol, k.interval) == ("SOLUSDT", "1m")
    _assert_rows(k)


def test_load_klines_binance_zip(tmp_path: Path) -> None:
    path = tmp_path / "BNBUSDT-1h-2024-03.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("BNBUSDT-1h-2024-03.csv", "\n".join(_binance_row(r) for r in ROWS))
    k = load_klines(path)
    assert (k.symbol, k.interval) == ("BNBUSDT", "1h")
    _assert_rows(k)


def test_load_klines_with_explicit_symbol_and_interval(tmp_path: Path) -> None:
    path = tmp_path / "candles.csv"
    path.write_text(HEADER + "\n".join(ROWS))
    with pytest.raises(MarketDataError, match="cannot infer symbol"):
        load_klines(path)
    k = load_klines(path, symbol="xrpusdt", interval="15m")
    assert (k.symbol, k.interval) == ("XRPUSDT", "15m")


def test_parse_kline_file_name() -> None:
    assert parse_kline_file_name("/x/BTCUSDT-1h.csv.gz") == ("BTCUSDT", "1h")
    assert parse_kline_file_name("DOGEUSDT-1m-2025-06-01.csv") == ("DOGEUSDT", "1m")


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ("1700000180000,100.5,abc,100.0,100.5,1", "high 'abc' is not a number"),
        ("1700000180000,100.5,101,100.0,100.5", "expected 6 columns, found 5"),
        ("1700000180000,100.5,101,100.0,100.5,1,7", "expected 6 columns, found 7"),
        ("17000001800x0,100.5,101,100.0,100.5,1", "open_time '17000001800x0' is not an integer"),
        ("1700000180000,100.5,99,100.0,100.5,1", "low/high do not contain open and close"),
        ("1700000180000,100.5,101,100.0,100.5,-1", "volume is negative"),
        ("1700000180000,100.5,101,100.0,nan,1", "close is not finite"),
        ("1700000060000,100.5,101,100.0,100.5,1", "is not after the previous row"),
    ],
)
def test_load_klines_malformed_row_names_file_and_line(tmp_path: Path, bad_row, message) -> None:
    path = tmp_path / "BTCUSDT-1m.csv.gz"
    rows = [*ROWS, bad_row, "1700000240000,100.5,101,100.0,100.5,1"]
    path.write_bytes(gzip.compress((HEADER + "\n".join(rows) + "\n").encode()))
    with pytest.raises(MarketDataError) as info:
        load_klines(path)
    text = str(info.value)
    assert text.startswith(f"{path}:5: ")  # header is line 1, the bad row line 5
    assert message in text
    assert "\n" not in text


def test_load_klines_bad_header_and_empty_and_missing(tmp_path: Path) -> None:
    bad = tmp_path / "BTCUSDT-1m.csv"
    bad.write_text("time,o,h,l,c,v\n1,1,1,1,1,1\n")
    with pytest.raises(MarketDataError, match=r"BTCUSDT-1m.csv:1: unexpected header"):
        load_klines(bad)
    empty = tmp_path / "ETHUSDT-1m.csv"
    empty.write_text("")
    with pytest.raises(MarketDataError, match="file is empty"):
        load_klines(empty)
    with pytest.raises(MarketDataError, match="cannot read file"):
        load_klines(tmp_path / "XRPUSDT-1m.csv")


def test_load_klines_shipped_file(shared_data: Path) -> None:
    k = load_klines(shared_data / "futures" / "BTCUSDT-1h.csv.gz")
    assert (k.symbol, k.interval, len(k)) == ("BTCUSDT", "1h", 53143)
    assert (np.diff(k.open_time) == 3_600_000).all()
    assert k.open_time[0] == 1567962000000  # 2019-09-08 17:00 UTC


def test_load_funding_shipped_and_binance_format(shared_data: Path, tmp_path: Path) -> None:
    f = load_funding(shared_data / "futures" / "BTCUSDT-funding.csv.gz")
    assert (f.symbol, len(f)) == ("BTCUSDT", 6638)
    assert f.funding_time[0] == 1568102400000 and f.funding_rate[0] == 0.0001
    path = tmp_path / "ETHUSDT-fundingRate-2025-01.csv"
    path.write_text(
        "calc_time,funding_interval_hours,last_funding_rate\n"
        "1735689600000,8,0.00010000\n1735718400000,8,-0.00002500\n"
    )
    g = load_funding(path)
    assert g.symbol == "ETHUSDT" and g.funding_rate.tolist() == [0.0001, -0.000025]
    path.write_text("calc_time,funding_interval_hours,last_funding_rate\n1735689600000,8,x\n")
    with pytest.raises(MarketDataError, match=r"fundingRate-2025-01.csv:2: not a number"):
        load_funding(path)


def test_load_klines_header_only_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-1m.csv"
    path.write_text(HEADER)
    with pytest.raises(MarketDataError, match="no data rows"):
        load_klines(path)
