"""The import_klines command and the klines_import service on real Binance excerpts."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from apps.market.data import MarketDataError
from apps.market.models import Kline
from apps.market.services import klines_import

pytestmark = pytest.mark.django_db

HEADER = "open_time,open,high,low,close,volume"


def _shipped_lines(shared_data: Path, name: str) -> list[str]:
    with gzip.open(shared_data / "futures" / name, "rt") as handle:
        return handle.read().splitlines()


def _write_excerpt(
    tmp_path: Path, shared_data: Path, name: str, *, start: int = 50_001, rows: int = 300
) -> tuple[Path, list[str]]:
    """Copy `rows` data rows of a shipped file (from data row `start`) into tmp_path, gzipped."""
    lines = _shipped_lines(shared_data, name)
    assert lines[0] == HEADER
    data = lines[start : start + rows]
    path = tmp_path / name
    path.write_bytes(gzip.compress(("\n".join([HEADER, *data]) + "\n").encode()))
    return path, data


def _run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_klines", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _count(symbol: str, interval: str = "1h") -> int:
    return Kline.objects.filter(symbol=symbol, interval=interval).count()


def test_import_klines_with_shipped_excerpt_inserts_every_row(tmp_path, shared_data) -> None:
    path, data = _write_excerpt(tmp_path, shared_data, "BTCUSDT-1h.csv.gz")

    out, err = _run(str(path))

    assert _count("BTCUSDT") == len(data) == 300
    first = Kline.objects.filter(symbol="BTCUSDT").order_by("open_time").first()
    assert first is not None and first.open_time == int(data[0].split(",")[0])
    assert "300 inserted, 0 skipped" in out
    assert "imported 1 file(s): 300 inserted, 0 skipped" in out
    assert "BTCUSDT-1h.csv.gz [" in err and "100% 300/300 rows" in err


def test_import_klines_with_reimport_skips_existing_rows(tmp_path, shared_data) -> None:
    path, _ = _write_excerpt(tmp_path, shared_data, "BTCUSDT-1h.csv.gz")
    _run(str(path))
    before = list(Kline.objects.values_list("id", "open_time", "close").order_by("id"))

    out, _ = _run(str(path))

    assert list(Kline.objects.values_list("id", "open_time", "close").order_by("id")) == before
    assert "0 inserted, 300 skipped" in out


def test_import_klines_with_overlapping_file_inserts_only_new_rows(tmp_path, shared_data) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    small, _ = _write_excerpt(tmp_path / "a", shared_data, "BTCUSDT-1h.csv.gz", rows=100)
    large, _ = _write_excerpt(tmp_path / "b", shared_data, "BTCUSDT-1h.csv.gz", rows=250)
    _run(str(small))

    summary = klines_import(path=large)

    assert (summary.inserted, summary.skipped, summary.rows_selected) == (150, 100, 250)
    assert _count("BTCUSDT") == 250


def _assert_rows_equal_text(data: list[str], symbol: str) -> None:
    stored = {k.open_time: k for k in Kline.objects.filter(symbol=symbol, interval="1h")}
    assert len(stored) == len(data)
    for line in data:
        t, o, h, lo, c, v = line.split(",")
        row = stored[int(t)]
        assert (row.open, row.high, row.low, row.close, row.volume) == tuple(
            Decimal(x) for x in (o, h, lo, c, v)
        )


def test_import_klines_with_csv_text_stores_exact_decimals(tmp_path, shared_data) -> None:
    path, data = _write_excerpt(tmp_path, shared_data, "DOGEUSDT-1h.csv.gz", start=10_001, rows=200)
    last_time = int(data[-1].split(",")[0])
    data.append(f"{last_time + 3_600_000},0.1000000001,0.3,0.0000000001,0.2999999999,0.1")
    path.write_bytes(gzip.compress(("\n".join([HEADER, *data]) + "\n").encode()))

    _run(str(path))

    _assert_rows_equal_text(data, "DOGEUSDT")


@pytest.mark.postgres
def test_import_klines_with_more_digits_than_a_float_stores_them_exactly(tmp_path) -> None:
    # 19 and 27 significant digits: exact in PostgreSQL numeric. (Django stores a DecimalField
    # in SQLite as REAL, which keeps 15 significant digits: enough for Binance prices.)
    data = [
        "1700000000000,123456789.0123456789,123456789.0123456790,0.0000000001,"
        "123456789.0123456789,98765432109876543.0123456789"
    ]
    path = tmp_path / "BTCUSDT-1h.csv"
    path.write_text("\n".join([HEADER, *data]) + "\n")

    _run(str(path))

    _assert_rows_equal_text(data, "BTCUSDT")


def test_import_klines_with_malformed_line_raises_naming_file_and_line_and_writes_nothing(
    tmp_path, shared_data
) -> None:
    good, _ = _write_excerpt(tmp_path, shared_data, "ETHUSDT-1h.csv.gz", rows=120)
    bad, data = _write_excerpt(tmp_path, shared_data, "BTCUSDT-1h.csv.gz", rows=300)
    t, o, h, lo, _c, v = data[148].split(",")  # file line 150: the header is line 1
    data[148] = ",".join([t, o, h, lo, "not-a-price", v])
    bad.write_bytes(gzip.compress(("\n".join([HEADER, *data]) + "\n").encode()))

    with pytest.raises(CommandError) as excinfo:
        _run(str(good), str(bad))

    message = str(excinfo.value)
    assert message.startswith(f"{bad}:150: close 'not-a-price'")
    assert "\n" not in message
    assert _count("BTCUSDT") == 0  # nothing of the bad file
    assert _count("ETHUSDT") == 120  # the file before it stays imported


def test_klines_import_with_unstorable_value_late_in_file_rolls_back_earlier_batches(
    tmp_path, shared_data
) -> None:
    path, data = _write_excerpt(tmp_path, shared_data, "BTCUSDT-1h.csv.gz", rows=300)
    t, o, h, lo, c, _v = data[279].split(",")
    data[279] = ",".join([t, o, h, lo, c, "1.12345678901"])  # 11 places: would be rounded
    path.write_bytes(gzip.compress(("\n".join([HEADER, *data]) + "\n").encode()))

    with pytest.raises(MarketDataError, match=rf"^{path}:281: volume 1.12345678901 has more than"):
        klines_import(path=path, batch_size=50)  # five batches written before the bad row

    assert _count("BTCUSDT") == 0


def test_import_klines_with_since_until_imports_only_the_range(tmp_path, shared_data) -> None:
    path, data = _write_excerpt(tmp_path, shared_data, "BTCUSDT-1h.csv.gz", rows=300)
    times = [int(line.split(",")[0]) for line in data]
    since, until = times[100], times[150]
    since_iso = datetime.fromtimestamp(since / 1000, tz=UTC).isoformat()
    until_iso = datetime.fromtimestamp(until / 1000, tz=UTC).replace(tzinfo=None).isoformat()

    out, _ = _run(str(path), "--since", since_iso, "--until", until_iso)

    stored = list(Kline.objects.order_by("open_time").values_list("open_time", flat=True))
    assert stored == times[100:150]
    assert "50 inserted, 0 skipped, 50 of 300 rows selected" in out


def test_import_klines_with_bad_since_raises_one_line_error(tmp_path, shared_data) -> None:
    path, _ = _write_excerpt(tmp_path, shared_data, "BTCUSDT-1h.csv.gz", rows=10)

    with pytest.raises(CommandError, match=r"^--since 'yesterday' is not an ISO date"):
        _run(str(path), "--since", "yesterday")


def test_import_klines_with_binance_public_data_file_imports_rows(tmp_path) -> None:
    # data.binance.vision layout: 12 columns, no header, named <SYMBOL>-<interval>-<YYYY-MM>.csv
    rows = [
        "1735689600000,3336.36,3339.09,3334.11,3338.77,2215.358,1735689899999,"
        "7392411.79437,5563,1264.093,4218368.16858,0",
        "1735689900000,3338.78,3344.50,3338.78,3343.72,1771.701,1735690199999,"
        "5920081.80455,4810,1069.811,3574874.73005,0",
        "1735690200000,3343.72,3345.64,3341.01,3341.02,1405.514,1735690499999,"
        "4698863.91326,4027,624.640,2088418.88431,0",
    ]
    path = tmp_path / "ETHUSDT-5m-2025-01.csv"
    path.write_text("\n".join(rows) + "\n")

    out, _ = _run(str(path))

    stored = list(Kline.objects.filter(symbol="ETHUSDT", interval="5m").order_by("open_time"))
    assert [k.open_time for k in stored] == [1735689600000, 1735689900000, 1735690200000]
    assert stored[1].high == Decimal("3344.50") and stored[0].volume == Decimal("2215.358")
    assert "ETHUSDT 5m: 3 inserted" in out


def test_import_klines_with_odd_file_name_and_symbol_flag_imports_rows(tmp_path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(f"{HEADER}\n1700000000000,10.5,11,10,10.75,3.25\n")

    _run(str(path), "--symbol", "solusdt", "--interval", "1h")

    row = Kline.objects.get()
    assert (row.symbol, row.interval, row.close) == ("SOLUSDT", "1h", Decimal("10.75"))


def test_import_klines_with_full_shipped_file_imports_every_row(shared_data) -> None:
    """Scale: the whole shipped BTCUSDT 1h file (about 53 k rows, 2019-2025) in one command."""
    path = shared_data / "futures" / "BTCUSDT-1h.csv.gz"
    expected = len(_shipped_lines(shared_data, "BTCUSDT-1h.csv.gz")) - 1

    out, _ = _run(str(path))

    assert _count("BTCUSDT") == expected > 50_000
    assert f"{expected} inserted, 0 skipped" in out
