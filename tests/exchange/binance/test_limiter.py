"""The rate limiter with an injected clock: in-process and Redis behave the same."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from apps.exchange.binance.config import RateLimits
from apps.exchange.binance.limiter import InProcessLimiter, Limiter, RedisLimiter, make_limiter
from apps.exchange.domain.errors import IpBannedError

from .conftest import SCALED

T0 = 1_700_000_020.0  # 40 s into a minute, 0 s into a 10 s window


class VirtualClock:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self, now: float = T0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


Factory = Callable[[VirtualClock], "AsyncIterator[Limiter]"]


@asynccontextmanager
async def memory(clock: VirtualClock, limits: RateLimits = SCALED) -> AsyncIterator[Limiter]:
    yield InProcessLimiter(limits, clock=clock, sleep=clock.sleep)


def redis_factory(url: str, namespace: str = "t"):
    @asynccontextmanager
    async def make(clock: VirtualClock, limits: RateLimits = SCALED) -> AsyncIterator[Limiter]:
        limiter = RedisLimiter(url, limits, namespace=namespace, clock=clock, sleep=clock.sleep)
        try:
            yield limiter
        finally:
            await limiter.close()

    return make


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def make(request: pytest.FixtureRequest):
    if request.param == "memory":
        return memory
    return redis_factory(request.getfixturevalue("redis_db13_url"))


async def test_acquire_with_budget_left_does_not_wait(make) -> None:
    clock = VirtualClock()
    async with make(clock) as limiter:
        for _ in range(100):
            await limiter.acquire(1)
        assert clock.slept == [] and (await limiter.used())["weight"] == 100


async def test_acquire_with_weight_window_full_sleeps_until_it_rolls(make) -> None:
    clock = VirtualClock()
    async with make(clock) as limiter:
        await limiter.acquire(95)
        await limiter.acquire(10)  # 105 > 100: waits for the next minute (20 s away)
        assert clock.slept == [pytest.approx(20.0)]
        assert (await limiter.used())["weight"] == 10


async def test_acquire_with_order_windows_full_waits_for_both(make) -> None:
    clock = VirtualClock(T0 - 20)  # 20 s into a minute
    async with make(clock) as limiter:
        for _ in range(30):  # 10 per 10 s: two 10 s waits, and the minute's 30 are spent
            await limiter.acquire(0, orders=1)
        assert clock.slept == [pytest.approx(10.0), pytest.approx(10.0)]
        await limiter.acquire(0, orders=1)  # both windows full: wait for the later (minute)
        assert clock.slept[2] == pytest.approx(20.0)
        assert (await limiter.used())["orders1m"] == 1


async def test_observe_with_higher_header_counts_raises_local_count(make) -> None:
    clock = VirtualClock()
    async with make(clock) as limiter:
        await limiter.acquire(5)
        await limiter.observe({"X-MBX-USED-WEIGHT-1M": "99", "X-MBX-ORDER-COUNT-10S": "3"})
        await limiter.observe({"X-MBX-USED-WEIGHT-1M": "7"})  # lower: ignored
        used = await limiter.used()
        assert used["weight"] == 99 and used["orders10s"] == 3
        await limiter.acquire(2)
        assert clock.slept == [pytest.approx(20.0)]


async def test_pause_with_retry_after_holds_the_next_call(make) -> None:
    clock = VirtualClock()
    async with make(clock) as limiter:
        await limiter.pause(3)
        await limiter.acquire(1)
        assert clock.slept == [pytest.approx(3.0)]


async def test_ban_with_418_refuses_until_it_ends(make) -> None:
    clock = VirtualClock()
    async with make(clock) as limiter:
        await limiter.ban(120)
        with pytest.raises(IpBannedError) as exc:
            await limiter.acquire(1)
        assert exc.value.retry_after == pytest.approx(120)
        clock.now += 121
        await limiter.acquire(1)


def test_limits_with_safety_margin_keep_a_reserve() -> None:
    limiter = make_limiter(RateLimits())
    assert isinstance(limiter, InProcessLimiter)
    assert [w.limit for w in limiter.windows] == [2160, 270, 1080]


@pytest.mark.redis
async def test_two_redis_limiters_with_same_keys_share_one_budget(redis_db13_url: str) -> None:
    clock = VirtualClock()
    make = redis_factory(redis_db13_url)
    async with make(clock) as first, make(clock) as second:  # two processes
        await first.acquire(60)
        await second.acquire(40)
        assert clock.slept == []
        await second.acquire(1)  # the shared minute is spent
        assert clock.slept == [pytest.approx(20.0)]
        await second.ban(60)
        with pytest.raises(IpBannedError):
            await first.acquire(1)


@pytest.mark.redis
async def test_make_limiter_with_redis_url_builds_redis_limiter(redis_db13_url: str) -> None:
    limiter = make_limiter(SCALED, redis_url=redis_db13_url)
    try:
        assert isinstance(limiter, RedisLimiter)
        await limiter.acquire(1)
        assert (await limiter.used())["weight"] == 1
    finally:
        await limiter.close()
