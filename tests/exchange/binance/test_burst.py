"""A burst of 2,000 calls through the limiter against the fake's real limits gets no 429.

Time is virtual, not scaled: the limits are Binance's (2,400 weight/min, 300 orders/10 s,
1,200 orders/min, as the fake enforces them) but the limiter's clock is the fake's clock and
its sleep moves that clock forward (and the client's timestamp offset with it, so signatures
stay inside recvWindow). Eight callers run concurrently. Several virtual minutes of pacing
then take a few real seconds.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from apps.exchange.binance.config import RateLimits
from apps.exchange.binance.limiter import InProcessLimiter
from apps.exchange.domain.types import Side
from testsupport.fakebinance import FakeBinance

from .conftest import adapter_for, running_fake

CALLS = 2_000
CONCURRENCY = 8


class FakeClock:
    """The fake's server clock, advanced by sleeping on it."""

    def __init__(self, fb: FakeBinance) -> None:
        self.fb = fb
        self.client = None
        self.advanced_s = 0.0

    def __call__(self) -> float:
        return self.fb.exchange.now() / 1000

    async def sleep(self, seconds: float) -> None:
        target_ms = self.fb.exchange.now() + int(seconds * 1000) + 1
        step = target_ms - self.fb.exchange.now()
        if step > 0:  # concurrent sleepers share one advance: the latest target wins
            self.fb.exchange.clock_offset_ms += step
            self.client.timestamp_offset += step
            self.advanced_s += step / 1000
        await asyncio.sleep(0)


async def test_burst_with_real_limits_gets_no_429_from_fake() -> None:
    async with running_fake() as fb:
        clock = FakeClock(fb)
        limiter = InProcessLimiter(RateLimits(), clock=clock, sleep=clock.sleep)
        async with adapter_for(fb, limiter=limiter) as exchange:
            clock.client = exchange.client
            gate = asyncio.Semaphore(CONCURRENCY)

            async def one(i: int) -> None:
                async with gate:
                    if i % 2:
                        await exchange.get_orderbook("BTCUSDT", 100)  # weight 5
                    else:
                        side = Side.BUY if i % 4 == 0 else Side.SELL
                        await exchange.place_market_order("BTCUSDT", side, Decimal("0.002"))

            await asyncio.gather(*(one(i) for i in range(CALLS)))
            # No 429 and no ban. (A few -1021 retries may happen: a request signed just
            # before another caller's sleep jumps the virtual clock arrives "too old".)
            assert exchange.transport.rate_limited == 0
            assert not fb.limiter.limited_until and not fb.limiter.banned_until
            assert len(fb.exchange.engine.orders) == CALLS // 2
            # 1,000 orders at 270 per 10 s and 5,000 weight at 2,160 per minute need pacing.
            assert limiter.waits > 0 and clock.advanced_s >= 120
