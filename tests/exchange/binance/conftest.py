"""Fixtures for the Binance adapter tests: the fake Binance server and an adapter pointed at it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import pytest_asyncio
from django.conf import settings

from apps.exchange.binance import BinanceConfig, BinanceFuturesExchange, RateLimits
from apps.exchange.binance.config import RetryPolicy
from apps.exchange.binance.limiter import Limiter
from testsupport.fakebinance import FakeBinance, RateLimitConfig

FAST_RETRY = RetryPolicy(
    max_attempts=4, base_delay_s=0.01, max_delay_s=0.05, unknown_outcome_window_s=0.5
)


def config_for(fb: FakeBinance, **overrides: Any) -> BinanceConfig:
    values: dict[str, Any] = {
        "api_key": fb.api_key,
        "api_secret": fb.api_secret,
        "base_url": fb.url,
        "stream_url": fb.ws_url,
        "retry": FAST_RETRY,
        "request_timeout_s": 2.0,
    }
    values.update(overrides)
    return BinanceConfig(**values)


@asynccontextmanager
async def adapter_for(
    fb: FakeBinance, *, limiter: Limiter | None = None, **overrides: Any
) -> AsyncIterator[BinanceFuturesExchange]:
    exchange = await BinanceFuturesExchange.create(config_for(fb, **overrides), limiter=limiter)
    try:
        yield exchange
    finally:
        await exchange.close()


@asynccontextmanager
async def running_fake(**kwargs: Any) -> AsyncIterator[FakeBinance]:
    kwargs.setdefault("seed", 7)
    kwargs.setdefault("rate_limits", RateLimitConfig())
    async with FakeBinance(**kwargs) as fb:
        yield fb


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    async with running_fake() as fb:
        yield fb


@pytest_asyncio.fixture
async def exchange(fake: FakeBinance) -> AsyncIterator[BinanceFuturesExchange]:
    async with adapter_for(fake) as ex:
        yield ex


def requests_to(fb: FakeBinance, method: str, path: str) -> int:
    """How many requests the fake received for `method path`."""
    return sum(1 for m, p, _ in fb.requests if m == method and p == path)


def orders_with_client_id(fb: FakeBinance, cid: str) -> list[Any]:
    """The fake's own regular orders carrying `cid`."""
    return [o for o in fb.exchange.engine.orders.values() if o.client_id == cid]


async def wait_until(predicate: Callable[[], Any], *, within: float = 5.0) -> None:
    """Poll `predicate` until truthy (a safety net against hangs, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


@pytest.fixture
def redis_db13_url() -> Any:
    """Redis database 13 (this folder's), flushed before and after."""
    import redis

    base = settings.TEST_REDIS_URL.rsplit("/", 1)[0]
    url = f"{base}/13"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


SCALED = RateLimits(
    weight_per_minute=100, orders_per_10s=10, orders_per_minute=30, safety_margin=0.0
)
