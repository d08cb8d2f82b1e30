"""klines_window from the database; the live candle and book-ticker store in Django's cache."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache

from apps.exchange.domain.types import BookTicker, Candle
from apps.market.cache import (
    book_ticker_get,
    book_ticker_set,
    candle_latest,
    candle_store_append,
    candles_latest,
)
from apps.market.models import Kline
from apps.market.selectors import interval_ms, kline_last_closed_open_time, klines_window

H = 3_600_000
T0 = 1_735_689_600_000  # 2025-01-01 00:00 UTC


def _kline(symbol: str, i: int, close: str) -> Kline:
    c = Decimal(close)
    return Kline(
        symbol=symbol,
        interval="1h",
        open_time=T0 + i * H,
        open=c,
        high=c + 1,
        low=c - 1,
        close=c,
        volume=Decimal("2.5"),
    )


@pytest.fixture
def klines_in_db(db: None) -> None:
    Kline.objects.bulk_create(
        [_kline("BTCUSDT", i, f"{100 + i}.25") for i in range(10)]
        + [_kline("ETHUSDT", i, "5") for i in range(3)]
    )


def test_klines_window_with_end_and_limit_returns_last_candles_ascending(klines_in_db) -> None:
    k = klines_window(symbol="BTCUSDT", interval="1h", end_ms=T0 + 6 * H, limit=4)

    assert k.open_time.tolist() == [T0 + i * H for i in (3, 4, 5, 6)]
    assert k.close.tolist() == [103.25, 104.25, 105.25, 106.25]
    assert k.high.tolist() == [104.25, 105.25, 106.25, 107.25]
    assert k.open_time.dtype == np.int64 and k.close.dtype == np.float64
    assert (k.symbol, k.interval, len(k)) == ("BTCUSDT", "1h", 4)


def test_klines_window_without_end_returns_the_newest(klines_in_db) -> None:
    k = klines_window(symbol="BTCUSDT", interval="1h", limit=3)

    assert k.open_time.tolist() == [T0 + 7 * H, T0 + 8 * H, T0 + 9 * H]


def test_klines_window_with_fewer_rows_than_limit_returns_what_exists(klines_in_db) -> None:
    assert len(klines_window(symbol="ETHUSDT", interval="1h", limit=100)) == 3
    empty = klines_window(symbol="SOLUSDT", interval="1h", limit=100)
    assert len(empty) == 0 and empty.close.dtype == np.float64


def test_klines_window_with_one_query(klines_in_db, django_assert_num_queries) -> None:
    with django_assert_num_queries(1):
        klines_window(symbol="BTCUSDT", interval="1h", limit=5)


def test_interval_ms_with_binance_intervals_returns_lengths() -> None:
    assert [interval_ms(i) for i in ("1m", "5m", "1h", "4h", "1d")] == [
        60_000,
        300_000,
        H,
        4 * H,
        24 * H,
    ]
    with pytest.raises(ValueError, match="1M"):
        interval_ms("1M")


def test_kline_last_closed_open_time_with_mid_candle_returns_previous_open() -> None:
    assert kline_last_closed_open_time(interval="1h", now_ms=T0 + 5 * H + 1) == T0 + 4 * H
    assert kline_last_closed_open_time(interval="1h", now_ms=T0 + 5 * H) == T0 + 4 * H


@pytest.fixture
def store() -> LocMemCache:
    cache = LocMemCache("market-test", {})
    cache.clear()
    return cache


def _candle(i: int, close: str) -> Candle:
    c = Decimal(close)
    return Candle(
        open_time=datetime.fromtimestamp((T0 + i * H) / 1000, tz=UTC),
        open=c,
        high=c + Decimal("0.5"),
        low=c - Decimal("0.5"),
        close=c,
        volume=Decimal("1.000000001"),
    )


def test_candle_store_append_with_next_candles_keeps_them_in_order(store) -> None:
    for i in range(3):
        candle_store_append(
            symbol="btcusdt", interval="1h", candle=_candle(i, f"1{i}.1"), cache=store
        )

    k = candles_latest(symbol="BTCUSDT", interval="1h", cache=store)

    assert k.open_time.tolist() == [T0, T0 + H, T0 + 2 * H]
    assert k.close.tolist() == [10.1, 11.1, 12.1]
    assert candles_latest(symbol="BTCUSDT", interval="1h", limit=2, cache=store).close.tolist() == [
        11.1,
        12.1,
    ]


def test_candle_store_append_with_same_or_older_time_replaces_or_inserts(store) -> None:
    for i in (0, 2):
        candle_store_append(symbol="BTCUSDT", interval="1h", candle=_candle(i, "10"), cache=store)

    candle_store_append(symbol="BTCUSDT", interval="1h", candle=_candle(2, "20"), cache=store)
    count = candle_store_append(
        symbol="BTCUSDT", interval="1h", candle=_candle(1, "15"), cache=store
    )

    k = candles_latest(symbol="BTCUSDT", interval="1h", cache=store)
    assert count == 3
    assert k.open_time.tolist() == [T0, T0 + H, T0 + 2 * H]
    assert k.close.tolist() == [10.0, 15.0, 20.0]


def test_candle_store_append_with_keep_drops_the_oldest(store) -> None:
    for i in range(6):
        candle_store_append(
            symbol="BTCUSDT", interval="1h", candle=_candle(i, "10"), keep=4, cache=store
        )

    k = candles_latest(symbol="BTCUSDT", interval="1h", cache=store)
    assert k.open_time.tolist() == [T0 + i * H for i in range(2, 6)]


def test_candle_latest_with_stored_candle_returns_exact_decimals(store) -> None:
    assert candle_latest(symbol="BTCUSDT", interval="1h", cache=store) is None
    candle_store_append(symbol="BTCUSDT", interval="1h", candle=_candle(3, "0.1"), cache=store)

    latest = candle_latest(symbol="BTCUSDT", interval="1h", cache=store)

    assert latest == _candle(3, "0.1")
    assert latest is not None and latest.volume == Decimal("1.000000001")


def test_candles_latest_with_empty_store_returns_empty_arrays(store) -> None:
    k = candles_latest(symbol="ETHUSDT", interval="5m", cache=store)

    assert len(k) == 0 and k.close.dtype == np.float64 and k.open_time.dtype == np.int64


def test_book_ticker_set_with_ticker_get_returns_it(store) -> None:
    at = datetime(2025, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)
    ticker = BookTicker(
        "ETHUSDT", Decimal("3336.36"), Decimal("12.5"), Decimal("3336.37"), Decimal("0.001"), at
    )

    book_ticker_set(ticker=ticker, cache=store)

    assert book_ticker_get(symbol="ethusdt", cache=store) == ticker
    assert book_ticker_get(symbol="BTCUSDT", cache=store) is None


def test_book_ticker_set_without_cache_argument_uses_the_default_cache() -> None:
    caches["default"].clear()
    ticker = BookTicker("SOLUSDT", Decimal("150.1"), Decimal("1"), Decimal("150.2"), Decimal("2"))

    book_ticker_set(ticker=ticker)

    assert book_ticker_get(symbol="SOLUSDT") == ticker
    assert book_ticker_get(symbol="SOLUSDT", cache=LocMemCache("other", {})) is None
