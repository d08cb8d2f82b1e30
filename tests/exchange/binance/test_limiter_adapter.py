"""The limiter inside the adapter: Binance's weights, and one budget shared by two processes."""

from __future__ import annotations

import pytest

from apps.exchange.binance.config import RateLimits
from apps.exchange.binance.limiter import InProcessLimiter, RedisLimiter
from apps.exchange.domain.errors import IpBannedError
from testsupport.fakebinance import FakeBinance

from .conftest import adapter_for


class CountingLimiter(InProcessLimiter):
    """Records what the adapter asked for, before any header resync."""

    def __init__(self) -> None:
        super().__init__(RateLimits())
        self.asked = 0

    async def acquire(self, weight: int, orders: int = 0) -> None:
        self.asked += weight
        await super().acquire(weight, orders)


async def test_adapter_with_mixed_calls_budgets_binance_weights(fake: FakeBinance) -> None:
    limiter = CountingLimiter()
    async with adapter_for(fake, limiter=limiter) as ex:  # server time: 1
        await ex.instrument("BTCUSDT")  # exchangeInfo: 1
        await ex.klines("BTCUSDT", "1h", limit=1000)  # 5
        await ex.klines("BTCUSDT", "1h", end=None, limit=50)  # 1
        await ex.get_orderbook("BTCUSDT", 100)  # 5 (limit 100)
        await ex.get_orderbook("BTCUSDT", 7)  # 10 levels: 2
        await ex.get_book_ticker("BTCUSDT")  # 2
        await ex.get_mark_price("BTCUSDT")  # 1
        await ex.balances()  # 5
        await ex.open_orders()  # 40 + 40 (no symbol)
        await ex.funding_history("BTCUSDT", end=None, limit=10)  # 1
        assert limiter.asked == fake.limiter.used_weight("127.0.0.1") == 104


@pytest.mark.redis
async def test_two_adapters_with_one_redis_share_weight_and_418_ban(
    fake: FakeBinance, redis_db13_url: str
) -> None:
    first_limiter = RedisLimiter(redis_db13_url, RateLimits(), namespace="bn-test")
    second_limiter = RedisLimiter(redis_db13_url, RateLimits(), namespace="bn-test")
    try:
        async with (
            adapter_for(fake, limiter=first_limiter) as first,
            adapter_for(fake, limiter=second_limiter) as second,
        ):
            await first.get_book_ticker("BTCUSDT")
            await second.get_book_ticker("BTCUSDT")
            assert (await first_limiter.used())["weight"] >= 6  # 2 x time + 2 x 2
            fake.limiter.banned_until["127.0.0.1"] = fake.exchange.now() + 60_000
            with pytest.raises(IpBannedError):
                await first.get_ticker("BTCUSDT")  # the 418 reaches this process only
            sent = len(fake.requests)
            with pytest.raises(IpBannedError) as exc:
                await second.get_ticker("BTCUSDT")  # refused from Redis, nothing sent
            assert len(fake.requests) == sent
            assert exc.value.retry_after == pytest.approx(60, abs=2)
            assert exc.value.banned_until is not None
    finally:
        await first_limiter.close()
        await second_limiter.close()
