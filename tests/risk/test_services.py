"""Risk adapters on real imported Binance candles: cached CryptoVIX and correlation, the gate."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache

from apps.market.data import load_klines
from apps.market.services import klines_import
from apps.risk.domain.gate import OpenPosition
from apps.risk.domain.portfolio import correlation_matrix
from apps.risk.domain.types import Direction
from apps.risk.domain.vix import CryptoVIX
from apps.risk.models import RiskSettings
from apps.risk.services import (
    RiskDataError,
    correlation_gate_check,
    correlation_matrix_current,
    vix_current,
    vix_size_multiplier,
)
from tests.factories import make_bot

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
def bot(db: None):
    bot = make_bot()
    RiskSettings.objects.create(bot=bot, correlation_threshold=Decimal("0.8"))
    return bot


def test_correlation_gate_check_with_btc_long_open_blocks_eth_long_and_logs_figure(
    imported, bot, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="apps.risk")

    decision = correlation_gate_check(
        bot=bot, symbol="ETHUSDT", direction="LONG", open_positions=[("BTCUSDT", "LONG")], now=NOW
    )

    assert not decision.allowed
    assert decision.blocking_symbol == "BTCUSDT"
    corr = decision.correlation
    assert corr is not None and corr > 0.9
    logged = [r for r in caplog.records if r.name == "apps.risk"]
    assert [r.getMessage() for r in logged] == [
        f"correlation gate: ETHUSDT LONG blocked by BTCUSDT LONG "
        f"(corr {corr:+.2f} > 0.80, 99 returns)"
    ]


def test_correlation_gate_check_with_btc_long_open_allows_eth_short(imported, bot, caplog) -> None:
    caplog.set_level(logging.INFO, logger="apps.risk")

    decision = correlation_gate_check(
        bot=bot,
        symbol="ETHUSDT",
        direction=Direction.SHORT,
        open_positions=[OpenPosition("BTCUSDT", Direction.LONG, Decimal("1000"))],
        now=NOW,
    )

    assert decision.allowed
    assert not [r for r in caplog.records if r.name == "apps.risk"]


def test_correlation_gate_check_with_threshold_above_figure_allows(imported, bot) -> None:
    RiskSettings.objects.filter(bot=bot).update(correlation_threshold=Decimal("0.99"))

    decision = correlation_gate_check(
        bot=bot, symbol="ETHUSDT", direction="LONG", open_positions=[("BTCUSDT", "LONG")], now=NOW
    )

    assert decision.allowed


def test_correlation_gate_check_with_bot_lookback_uses_it(imported, bot) -> None:
    RiskSettings.objects.filter(bot=bot).update(correlation_lookback=50)

    correlation_gate_check(
        bot=bot, symbol="ETHUSDT", direction="LONG", open_positions=[("BTCUSDT", "LONG")], now=NOW
    )
    matrix = correlation_matrix_current(symbols=["BTCUSDT", "ETHUSDT"], lookback=50, now=NOW)

    assert matrix.returns_used == 49


def test_correlation_gate_check_with_stale_data_blocks_and_warns(imported, bot, caplog) -> None:
    caplog.set_level(logging.INFO, logger="apps.risk")

    decision = correlation_gate_check(
        bot=bot,
        symbol="ETHUSDT",
        direction="LONG",
        open_positions=[("BTCUSDT", "LONG")],
        now=datetime(2025, 5, 1, tzinfo=UTC),
    )

    assert not decision.allowed and decision.correlation is None
    messages = [r.getMessage() for r in caplog.records if r.name == "apps.risk"]
    assert messages[0].startswith("correlation gate: no matrix (correlation: the newest ")
    assert messages[1] == "correlation gate: ETHUSDT LONG blocked: no correlation data with BTCUSDT"


def test_correlation_gate_check_with_same_symbol_open_blocks_without_candles(bot, caplog) -> None:
    caplog.set_level(logging.INFO, logger="apps.risk")

    decision = correlation_gate_check(
        bot=bot, symbol="BTCUSDT", direction="LONG", open_positions=[("BTCUSDT", "LONG")], now=NOW
    )

    assert not decision.allowed and decision.correlation == 1.0
    assert [r.getMessage() for r in caplog.records if r.name == "apps.risk"] == [
        "correlation gate: BTCUSDT LONG blocked by BTCUSDT LONG (same symbol, corr +1.00)"
    ]


def test_correlation_gate_check_without_open_positions_allows_without_query_of_candles(
    bot, django_assert_num_queries
) -> None:
    with django_assert_num_queries(1):  # the bot's risk settings only
        decision = correlation_gate_check(
            bot=bot, symbol="ETHUSDT", direction="LONG", open_positions=[], now=NOW
        )

    assert decision.allowed


def test_vix_size_multiplier_with_bot_bands_maps_the_score(imported, bot) -> None:
    reading = vix_current(now=NOW)  # score about 67: the default bands 40/60/80/100 give 0.5

    assert vix_size_multiplier(bot=bot, reading=reading) == Decimal("0.5")

    RiskSettings.objects.filter(bot=bot).update(
        volatility_bands=[
            {"max_score": "70", "size_multiplier": "0.9"},
            {"max_score": "100", "size_multiplier": "0.3"},
        ]
    )
    assert vix_size_multiplier(bot=bot, reading=reading) == Decimal("0.9")


def test_vix_size_multiplier_without_risk_settings_uses_defaults(db) -> None:
    bot = make_bot("bot-no-risk")
    reading = CryptoVIX().score([2.0] * 30, [1.0] * 30, [1.5] * 30, [1.5] * 30)  # score 100

    assert vix_size_multiplier(bot=bot, reading=reading) == Decimal("0.25")


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
