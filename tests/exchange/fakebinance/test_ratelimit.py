"""Request-weight and order-count limits: 429 with Retry-After, then 418 when a client persists."""

from __future__ import annotations

import pytest
from binance.exceptions import BinanceAPIException

from testsupport.fakebinance import RateLimitConfig, fb_client, running_fake_binance

pytestmark = pytest.mark.asyncio


async def test_weight_limit_with_client_continuing_answers_429_then_418() -> None:
    async with running_fake_binance(rate_limits=RateLimitConfig(weight_per_minute=10)) as fb:
        client = await fb_client(fb)  # create() spends 2 (ping + time)
        try:
            for _ in range(8):
                await client.futures_ping()
            assert client.response.headers["X-MBX-USED-WEIGHT-1M"] == "10"
            with pytest.raises(BinanceAPIException) as first:
                await client.futures_ping()
            assert first.value.status_code == 429 and first.value.code == -1003
            assert int(first.value.response.headers["Retry-After"]) >= 1
            with pytest.raises(BinanceAPIException) as second:
                await client.futures_ping()
            assert second.value.status_code == 429
            with pytest.raises(BinanceAPIException) as banned:
                await client.futures_ping()
            assert banned.value.status_code == 418 and banned.value.code == -1003
            assert int(banned.value.response.headers["Retry-After"]) >= 60
            fb.limiter.reset()
            assert await client.futures_ping() == {}
        finally:
            await client.close_connection()


async def test_order_limit_with_burst_answers_429_1015_and_counts_headers() -> None:
    limits = RateLimitConfig(orders_per_10s=2)
    async with running_fake_binance(rate_limits=limits) as fb:
        client = await fb_client(fb)
        try:
            for n in (1, 2):
                await client.futures_create_order(
                    symbol="ETHUSDT", side="BUY", type="MARKET", quantity="0.01"
                )
                assert client.response.headers["X-MBX-ORDER-COUNT-10S"] == str(n)
            with pytest.raises(BinanceAPIException) as exc:
                await client.futures_create_order(
                    symbol="ETHUSDT", side="BUY", type="MARKET", quantity="0.01"
                )
            assert exc.value.status_code == 429 and exc.value.code == -1015
            assert len(fb.exchange.engine.orders) == 2
        finally:
            await client.close_connection()


async def test_weights_with_heavy_endpoints_follow_binance_table() -> None:
    async with running_fake_binance() as fb:
        client = await fb_client(fb)
        try:
            await client.futures_klines(symbol="BTCUSDT", interval="1h", limit=1000)
            used = int(client.response.headers["X-MBX-USED-WEIGHT-1M"])
            await client.futures_account()
            assert int(client.response.headers["X-MBX-USED-WEIGHT-1M"]) == used + 5
            await client.futures_get_open_orders()
            assert int(client.response.headers["X-MBX-USED-WEIGHT-1M"]) == used + 45
            assert used == 2 + 5
        finally:
            await client.close_connection()
