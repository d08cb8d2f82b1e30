"""Request-weight and order-rate limiting shared by every caller of one Binance account.

Binance counts in fixed windows aligned to the clock (REQUEST_WEIGHT per IP per minute, ORDERS
per account per 10 s and per minute). The limiter mirrors them: `acquire(weight, orders)`
reserves the cost in the current windows or sleeps until the window that is full rolls over.
Every response's `X-MBX-USED-WEIGHT-1M` / `X-MBX-ORDER-COUNT-10S` / `-1M` raise the local counts
to what the venue saw (`observe`), a 429 pauses every caller for Retry-After (`pause`), and a
418 bans every caller until the ban ends (`ban`; `acquire` then raises `IpBannedError`).

Two implementations with one interface: `InProcessLimiter` (one process, the embedded default
and tests) and `RedisLimiter` (all processes sharing a Redis: per-window keys updated by Lua
scripts, so check-and-reserve is atomic). The clock is injected (epoch seconds); pass the server
clock so the windows line up with Binance's.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from apps.exchange.domain.errors import IpBannedError
from apps.exchange.domain.types import ms_to_datetime

from .config import RateLimits

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

HEADER_WEIGHT = "X-MBX-USED-WEIGHT-1M"
HEADER_ORDERS_10S = "X-MBX-ORDER-COUNT-10S"
HEADER_ORDERS_1M = "X-MBX-ORDER-COUNT-1M"


@dataclass(frozen=True, slots=True)
class Window:
    name: str
    size_ms: int
    limit: int
    header: str
    header_size_ms: int  # the window the header counts; resync only when it is ours

    def start(self, now_ms: int) -> int:
        return now_ms // self.size_ms * self.size_ms

    def cost(self, weight: int, orders: int) -> int:
        return min(self.limit, weight if self.name == "weight" else orders)


def windows_for(limits: RateLimits) -> tuple[Window, ...]:
    return (
        Window(
            "weight",
            int(limits.weight_window_s * 1000),
            limits.allowed(limits.weight_per_minute),
            HEADER_WEIGHT,
            60_000,
        ),
        Window(
            "orders10s",
            int(limits.orders_short_window_s * 1000),
            limits.allowed(limits.orders_per_10s),
            HEADER_ORDERS_10S,
            10_000,
        ),
        Window(
            "orders1m",
            int(limits.orders_long_window_s * 1000),
            limits.allowed(limits.orders_per_minute),
            HEADER_ORDERS_1M,
            60_000,
        ),
    )


class Limiter(ABC):
    """The shared interface; subclasses store the counters."""

    def __init__(
        self,
        limits: RateLimits | None = None,
        *,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self.limits = limits or RateLimits()
        self.windows = windows_for(self.limits)
        self.clock: Clock = clock or time.time
        self._sleep: Sleep = sleep or asyncio.sleep
        self.waits = 0  # how many times acquire had to sleep (for tests and metrics)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def acquire(self, weight: int, orders: int = 0) -> None:
        """Reserve `weight` and `orders`, sleeping while a window is full.

        Raise IpBannedError while a 418 ban (seen by any process sharing the limiter) lasts.
        """
        while True:
            now = self.now_ms()
            wait_ms, banned_until = await self._try_acquire(now, max(0, weight), max(0, orders))
            if banned_until:
                raise IpBannedError(
                    f"IP banned by Binance until {ms_to_datetime(banned_until).isoformat()}; "
                    "no request is sent before then",
                    retry_after=(banned_until - now) / 1000,
                    banned_until=ms_to_datetime(banned_until),
                )
            if wait_ms <= 0:
                return
            self.waits += 1
            await self._sleep(wait_ms / 1000)

    async def observe(self, headers: Mapping[str, str]) -> None:
        """Raise the local counts to the venue's, from a response's headers."""
        now = self.now_ms()
        seen: dict[str, int] = {}
        for window in self.windows:
            raw = headers.get(window.header)
            if raw is None or window.size_ms != window.header_size_ms:
                continue
            try:
                seen[window.name] = int(raw)
            except ValueError:
                continue
        if seen:
            await self._raise_to(now, seen)

    async def pause(self, seconds: float) -> None:
        """Hold every caller for `seconds` (a 429 with Retry-After)."""
        now = self.now_ms()
        await self._set_until("pause", now, now + int(max(seconds, 0.0) * 1000))

    async def ban(self, seconds: float | None = None, *, until_ms: int | None = None) -> None:
        """Refuse every call until the ban ends (a 418); default two minutes."""
        now = self.now_ms()
        if until_ms is None:
            until_ms = now + int((seconds if seconds is not None else 120.0) * 1000)
        await self._set_until("ban", now, until_ms)

    @abstractmethod
    async def _try_acquire(self, now: int, weight: int, orders: int) -> tuple[int, int]:
        """Return (ms to wait, 0) or (0, 0) when reserved, or (-1, banned_until_ms)."""

    @abstractmethod
    async def _raise_to(self, now: int, seen: dict[str, int]) -> None: ...

    @abstractmethod
    async def _set_until(self, kind: str, now: int, until_ms: int) -> None: ...

    async def used(self) -> dict[str, int]:
        """The counts of the current windows (for tests and metrics)."""
        return {}

    async def close(self) -> None:
        return None


class InProcessLimiter(Limiter):
    """Counters in this process only (one asyncio loop)."""

    def __init__(
        self,
        limits: RateLimits | None = None,
        *,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        super().__init__(limits, clock=clock, sleep=sleep)
        self._counts: dict[str, tuple[int, int]] = {}  # name -> (window start, used)
        self._until: dict[str, int] = {"pause": 0, "ban": 0}

    def _used(self, window: Window, now: int) -> int:
        start, used = self._counts.get(window.name, (-1, 0))
        return used if start == window.start(now) else 0

    async def _try_acquire(self, now: int, weight: int, orders: int) -> tuple[int, int]:
        if self._until["ban"] > now:
            return -1, self._until["ban"]
        if self._until["pause"] > now:
            return self._until["pause"] - now, 0
        wait = 0
        for window in self.windows:
            cost = window.cost(weight, orders)
            if cost and self._used(window, now) + cost > window.limit:
                wait = max(wait, window.start(now) + window.size_ms - now)
        if wait:
            return wait, 0
        for window in self.windows:
            cost = window.cost(weight, orders)
            if cost:
                self._counts[window.name] = (window.start(now), self._used(window, now) + cost)
        return 0, 0

    async def _raise_to(self, now: int, seen: dict[str, int]) -> None:
        for window in self.windows:
            if window.name in seen and self._used(window, now) < seen[window.name]:
                self._counts[window.name] = (window.start(now), seen[window.name])

    async def _set_until(self, kind: str, now: int, until_ms: int) -> None:
        self._until[kind] = max(self._until[kind], until_ms)

    async def used(self) -> dict[str, int]:
        now = self.now_ms()
        return {w.name: self._used(w, now) for w in self.windows}


_ACQUIRE = """
local now = tonumber(ARGV[1])
local ban = tonumber(redis.call('GET', KEYS[1]) or '0')
if ban > now then return {-1, ban} end
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
if pause > now then return {pause - now, 0} end
local n = #KEYS - 2
local wait = 0
for i = 1, n do
  local cost = tonumber(ARGV[3 * i - 1])
  if cost > 0 then
    local used = tonumber(redis.call('GET', KEYS[2 + i]) or '0')
    if used + cost > tonumber(ARGV[3 * i]) then
      local left = tonumber(ARGV[3 * i + 1]) - now
      if left > wait then wait = left end
    end
  end
end
if wait > 0 then return {wait, 0} end
for i = 1, n do
  local cost = tonumber(ARGV[3 * i - 1])
  if cost > 0 then
    redis.call('INCRBY', KEYS[2 + i], cost)
    redis.call('PEXPIRE', KEYS[2 + i], tonumber(ARGV[3 * i + 1]) - now + 60000)
  end
end
return {0, 0}
"""

_RAISE = """
for i = 1, #KEYS do
  local value = tonumber(ARGV[2 * i - 1])
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used < value then redis.call('SET', KEYS[i], value, 'PX', tonumber(ARGV[2 * i])) end
end
return 0
"""

_SET_MAX = """
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local untl = tonumber(ARGV[1])
if untl > cur then redis.call('SET', KEYS[1], untl, 'PX', tonumber(ARGV[2])) end
return 0
"""


class RedisLimiter(Limiter):
    """Counters in Redis, shared by every process that uses the same keys.

    The weight window is keyed by `ip_key` (Binance counts weight per IP) and the order windows
    by `account_key` (per account); processes on different machines should use different
    `ip_key`s unless they share an egress IP.
    """

    def __init__(
        self,
        redis_url: str,
        limits: RateLimits | None = None,
        *,
        namespace: str = "binance:usdm",
        ip_key: str = "default",
        account_key: str = "default",
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        client: Any = None,
    ) -> None:
        super().__init__(limits, clock=clock, sleep=sleep)
        if client is None:
            import redis.asyncio as aioredis

            client = aioredis.Redis.from_url(redis_url)
        self.redis = client
        self._prefix = {
            "weight": f"{namespace}:ip:{ip_key}:weight",
            "orders10s": f"{namespace}:acct:{account_key}:orders10s",
            "orders1m": f"{namespace}:acct:{account_key}:orders1m",
        }
        self._ban_key = f"{namespace}:ip:{ip_key}:ban"
        self._pause_key = f"{namespace}:ip:{ip_key}:pause"
        self._acquire = self.redis.register_script(_ACQUIRE)
        self._raise = self.redis.register_script(_RAISE)
        self._set_max = self.redis.register_script(_SET_MAX)

    def _key(self, window: Window, now: int) -> str:
        return f"{self._prefix[window.name]}:{window.start(now)}"

    async def _try_acquire(self, now: int, weight: int, orders: int) -> tuple[int, int]:
        keys = [self._ban_key, self._pause_key]
        args: list[int] = [now]
        for window in self.windows:
            keys.append(self._key(window, now))
            args += [window.cost(weight, orders), window.limit, window.start(now) + window.size_ms]
        wait, banned = await self._acquire(keys=keys, args=args)
        return int(wait), int(banned)

    async def _raise_to(self, now: int, seen: dict[str, int]) -> None:
        keys: list[str] = []
        args: list[int] = []
        for window in self.windows:
            if window.name in seen:
                keys.append(self._key(window, now))
                args += [seen[window.name], window.start(now) + window.size_ms - now + 60_000]
        if keys:
            await self._raise(keys=keys, args=args)

    async def _set_until(self, kind: str, now: int, until_ms: int) -> None:
        key = self._ban_key if kind == "ban" else self._pause_key
        ttl = max(1, until_ms - now) + 1000
        await self._set_max(keys=[key], args=[until_ms, ttl])

    async def used(self) -> dict[str, int]:
        now = self.now_ms()
        values = await self.redis.mget([self._key(w, now) for w in self.windows])
        return {w.name: int(v or 0) for w, v in zip(self.windows, values, strict=True)}

    async def close(self) -> None:
        await self.redis.aclose()


def account_key_for(api_key: str) -> str:
    """A stable, non-secret key for an API key (the first 16 hex of its SHA-256)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16] if api_key else "anonymous"


def make_limiter(
    limits: RateLimits | None = None,
    *,
    redis_url: str | None = None,
    namespace: str = "binance:usdm",
    ip_key: str = "default",
    account_key: str = "default",
    clock: Clock | None = None,
    sleep: Sleep | None = None,
) -> Limiter:
    """A `RedisLimiter` when `redis_url` is given (shared across processes), else in-process."""
    if redis_url:
        return RedisLimiter(
            redis_url,
            limits,
            namespace=namespace,
            ip_key=ip_key,
            account_key=account_key,
            clock=clock,
            sleep=sleep,
        )
    return InProcessLimiter(limits, clock=clock, sleep=sleep)
