"""Risk adapters on real imported Binance candles: cached CryptoVIX and correlation readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache

from apps.market.data import load_klines
from apps.market.services import klines_import
from apps.risk.domain.portfolio import correlation_matrix
from apps.risk.domain.vix import CryptoVIX
from apps.risk.services import (
    RiskDataError,
    correlation_matrix_current,
    vix_current,
)

H = 3_600_000
# The last candle closed at NOW opened 2025-04-11 15:00 UTC: a volatile week (BTC/ETH 1h
# correlation about 0.94 over 100 candles, CryptoVIX about 67).
NOW = datetime(2025, 4, 11, 16, 10, tzinfo=UTC)
LAST_CLOSED_MS = int(datetime(2025, 4, 11, 15, tzinfo=UTC).timestamp() * 1000)
SINCE_MS = int(datetime(2025, 4, 1, tzinfo=UTC).timestamp() * 1000)
UNTIL_MS = int(datetime(2025, 4, 12, tzinfo=UTC).timestamp() * 1000)


def _futures(shared_data: Path, symbol: str) -> Path:
    return shared_data / "futures" / f"{symbol}-1h.csv.gz"


@pytest.fixture(autouse=True)
def _clear_default_cache() -> None:
    caches["default"].clear()


@pytest.fixture
def imported(db: None, shared_data: Path) -> Path:
    """BTCUSDT and ETHUSDT 1h candles of 2025-04-01 .. 2025-04-11 imported from the real data."""
    for symbol in ("BTCUSDT", "ETHUSDT"):
        klines_import(path=_futures(shared_data, symbol), since_ms=SINCE_MS, until_ms=UNTIL_MS)
    return shared_data


def _window(shared_data: Path, symbol: str, end_ms: int, n: int):
    k = load_klines(_futures(shared_data, symbol))
    return k.slice(None, int((k.open_time <= end_ms).sum())).slice(-n)


def test_vix_current_with_imported_btc_candles_matches_the_kernel(imported) -> None:
    reading = vix_current(now=NOW)

    k = _window(imported, "BTCUSDT", LAST_CLOSED_MS, 100)
    assert k.open_time[-1] == LAST_CLOSED_MS
    assert reading == CryptoVIX().score(k.high, k.low, k.open, k.close)
    assert reading.candles == 100 and 60 < reading.score < 75


def test_vix_current_with_second_call_within_5_minutes_hits_no_query(
    imported, django_assert_num_queries
) -> None:
    first = vix_current(now=NOW)

    with django_assert_num_queries(0):
        again = vix_current(now=NOW + timedelta(minutes=4, seconds=59))

    assert again == first


def test_vix_current_after_5_minutes_recomputes(imported, django_assert_num_queries) -> None:
    vix_current(now=NOW)

    with django_assert_num_queries(1):
        vix_current(now=NOW + timedelta(minutes=5))


def test_vix_current_with_a_new_closed_candle_recomputes_within_5_minutes(
    imported, django_assert_num_queries
) -> None:
    before = vix_current(now=datetime(2025, 4, 11, 16, 58, tzinfo=UTC))

    with django_assert_num_queries(1):
        after = vix_current(now=datetime(2025, 4, 11, 17, 1, tzinfo=UTC))

    assert after != before


def test_vix_current_with_clock_gone_back_recomputes(imported, django_assert_num_queries) -> None:
    vix_current(now=NOW)

    with django_assert_num_queries(1):
        vix_current(now=NOW - timedelta(minutes=1))


def test_vix_current_with_stale_candles_raises(imported) -> None:
    with pytest.raises(RiskDataError, match="newest BTCUSDT 1h candle opened 2025-04-11T23:00Z"):
        vix_current(now=datetime(2025, 4, 20, tzinfo=UTC))


def test_vix_current_with_no_candles_raises(db) -> None:
    with pytest.raises(RiskDataError, match="no BTCUSDT 1h candles"):
        vix_current(now=NOW)


def test_vix_current_with_naive_now_raises(db) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        vix_current(now=datetime(2025, 4, 11, 16))


def test_correlation_matrix_current_with_imported_candles_matches_the_kernel(imported) -> None:
    matrix = correlation_matrix_current(symbols=["ETHUSDT", "BTCUSDT"], lookback=100, now=NOW)

    btc = _window(imported, "BTCUSDT", LAST_CLOSED_MS, 100)
    eth = _window(imported, "ETHUSDT", LAST_CLOSED_MS, 100)
    expected = correlation_matrix(
        {"BTCUSDT": (btc.open_time, btc.close), "ETHUSDT": (eth.open_time, eth.close)}, 100
    )
    assert matrix.symbols == ("BTCUSDT", "ETHUSDT")
    assert matrix.get("ETHUSDT", "BTCUSDT") == pytest.approx(expected.get("ETHUSDT", "BTCUSDT"))
    assert matrix.get("ETHUSDT", "BTCUSDT") > 0.9
    assert (matrix.returns_used, matrix.end_time_ms) == (99, LAST_CLOSED_MS)


def test_correlation_matrix_current_within_1_hour_hits_no_query(
    imported, django_assert_num_queries
) -> None:
    first = correlation_matrix_current(symbols=["BTCUSDT", "ETHUSDT"], lookback=100, now=NOW)

    with django_assert_num_queries(0):
        again = correlation_matrix_current(
            symbols=["ETHUSDT", "BTCUSDT"], lookback=100, now=NOW + timedelta(minutes=59)
        )

    assert again.as_dict() == first.as_dict()


def test_correlation_matrix_current_after_1_hour_recomputes(
    imported, django_assert_num_queries
) -> None:
    correlation_matrix_current(symbols=["BTCUSDT", "ETHUSDT"], lookback=100, now=NOW)

    with django_assert_num_queries(2):  # one window per symbol
        later = correlation_matrix_current(
            symbols=["BTCUSDT", "ETHUSDT"], lookback=100, now=NOW + timedelta(hours=1)
        )

    assert later.end_time_ms == LAST_CLOSED_MS + H


@pytest.fixture
def redis_db12_url():
    import redis

    url = f"{settings.TEST_REDIS_URL.rsplit('/', 1)[0]}/12"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.mark.redis
def test_vix_current_with_redis_cache_is_shared_between_clients(
    imported, redis_db12_url, django_assert_num_queries
) -> None:
    from django.core.cache.backends.redis import RedisCache

    worker_a = RedisCache(redis_db12_url, {"KEY_PREFIX": "tp"})
    worker_b = RedisCache(redis_db12_url, {"KEY_PREFIX": "tp"})
    first = vix_current(now=NOW, cache=worker_a)
    matrix = correlation_matrix_current(
        symbols=["BTCUSDT", "ETHUSDT"], lookback=100, now=NOW, cache=worker_a
    )

    with django_assert_num_queries(0):
        seen_by_b = vix_current(now=NOW + timedelta(minutes=2), cache=worker_b)
        matrix_b = correlation_matrix_current(
            symbols=["BTCUSDT", "ETHUSDT"], lookback=100, now=NOW, cache=worker_b
        )

    assert seen_by_b == first
    assert matrix_b.as_dict() == matrix.as_dict()
    # A process-local cache does not see it: it has to read the candles.
    local = LocMemCache("risk-test-other", {})
    local.clear()
    with django_assert_num_queries(1):
        vix_current(now=NOW, cache=local)
