"""The Binance transport's metrics over the real python-binance client and the fake Binance
server: request round trips, weight and order counts used vs limit, 429s and 418 bans."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.exchange.domain.errors import IpBannedError
from apps.exchange.domain.types import Side
from tests.exchange.binance.conftest import adapter_for, running_fake
from testsupport.fakebinance import RateLimitConfig

from .conftest import sample


async def test_requests_record_round_trip_and_the_venue_s_weight_and_order_counts() -> None:
    placed = sample(
        "tradingplatform_exchange_requests_total", method="futures_create_order", outcome="ok"
    )
    async with running_fake() as fb, adapter_for(fb) as exchange:
        await exchange.get_ticker("BTCUSDT")
        await exchange.place_market_order("BTCUSDT", Side.BUY, Decimal("0.002"))
        assert (
            sample("tradingplatform_exchange_weight_limit")
            == exchange.transport.limiter.limits.weight_per_minute
        )
    assert (
        sample(
            "tradingplatform_exchange_requests_total", method="futures_create_order", outcome="ok"
        )
        == placed + 1
    )
    assert (
        sample(
            "tradingplatform_exchange_request_duration_seconds_count", method="futures_create_order"
        )
        >= 1
    )
    assert sample("tradingplatform_exchange_weight_used") > 0  # X-MBX-USED-WEIGHT-1M
    assert sample("tradingplatform_exchange_order_count_used", window="10s") >= 1
    assert sample("tradingplatform_exchange_order_count_limit", window="10s") > 0


async def test_429_and_418_are_counted() -> None:
    limited = sample("tradingplatform_exchange_rate_limited_total")
    bans = sample("tradingplatform_exchange_ip_bans_total")
    async with running_fake(rate_limits=RateLimitConfig(weight_per_minute=6)) as fb:
        now = fb.exchange.now()  # the fake's minute window 1.2 s from its end: a short wait
        fb.exchange.clock_offset_ms += 60_000 - now % 60_000 - 1_200
        async with adapter_for(fb) as exchange:
            for _ in range(7):
                await exchange.get_ticker("BTCUSDT")
            assert sample("tradingplatform_exchange_rate_limited_total") == limited + 1
            fb.limiter.banned_until["127.0.0.1"] = fb.exchange.now() + 120_000
            with pytest.raises(IpBannedError):
                await exchange.get_ticker("BTCUSDT")
    assert sample("tradingplatform_exchange_ip_bans_total") == bans + 1
    assert sample("tradingplatform_exchange_ip_banned_until_timestamp_seconds") > 0
