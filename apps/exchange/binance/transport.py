"""One request to Binance: budget it, send it, translate failures, retry what is temporary."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from apps.exchange.domain.errors import (
    ExchangeError,
    IpBannedError,
    RateLimitedError,
    RetryableError,
    TimestampError,
    UnknownOutcomeError,
)
from apps.exchange.domain.types import datetime_to_ms

from . import metrics
from .config import RetryPolicy
from .errors import TRANSLATABLE, response_headers, translate
from .limiter import Limiter
from .time_sync import TimeSync

log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]


class Transport:
    """Send python-binance calls through the limiter with the retry policy.

    Retried (same parameters, so the same client order id): `RetryableError`s, i.e. 5xx and
    timeouts on reads, 429 after Retry-After, -1021 after a clock resync, -1001/-1008 (not
    processed). Never retried: rejections, `HaltError`s (a 418 also bans the limiter), and an
    `UnknownOutcomeError` on a write unless the caller says the write is idempotent.
    """

    def __init__(
        self,
        client: Any,
        limiter: Limiter,
        time_sync: TimeSync,
        *,
        retry: RetryPolicy | None = None,
        timeout_s: float = 10.0,
        sleep: Sleep | None = None,
        jitter: Callable[[], float] | None = None,
    ) -> None:
        self.client = client
        self.limiter = limiter
        self.time_sync = time_sync
        self.retry = retry or RetryPolicy()
        self.timeout_s = timeout_s
        self._sleep: Sleep = sleep or asyncio.sleep
        self._jitter = jitter or random.random
        self.sent = 0  # requests that left this process
        self.retried = 0
        self.rate_limited = 0
        metrics.record_limits(limiter.limits)

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Full-jitter exponential delay for retry number `attempt` (1-based)."""
        cap = min(self.retry.max_delay_s, self.retry.base_delay_s * 2 ** (attempt - 1))
        delay = cap * self._jitter()
        return max(delay, retry_after or 0.0)

    async def call(
        self,
        method: str,
        *,
        weight: int,
        orders: int = 0,
        mutating: bool = False,
        idempotent: bool = False,
        attempts: int | None = None,
        **params: Any,
    ) -> Any:
        """Call `client.<method>(**params)`; return its JSON or raise an ExchangeError.

        `idempotent` marks a write whose repetition is harmless (set leverage, cancel): an
        unknown outcome is then retried like a temporary error.
        """
        budget = attempts or self.retry.max_attempts
        attempt = 0
        while True:
            attempt += 1
            error = await self._once(method, weight, orders, mutating, params)
            if not isinstance(error, ExchangeError):
                return error.value
            retryable = isinstance(error, RetryableError) or (
                idempotent and isinstance(error, UnknownOutcomeError)
            )
            if not retryable or attempt >= budget:
                raise error
            retry_after = getattr(error, "retry_after", None)
            if isinstance(error, TimestampError):
                await self.resync()
            self.retried += 1
            delay = self.backoff(attempt, retry_after)
            log.info("binance %s: %s; retry %d in %.2fs", method, error, attempt, delay)
            await self._sleep(delay)

    async def resync(self) -> None:
        await self.time_sync.sync(
            lambda: self.call("futures_time", weight=1, attempts=2)  # unsigned: no -1021 loop
        )

    async def _once(
        self, method: str, weight: int, orders: int, mutating: bool, params: dict[str, Any]
    ) -> _Ok | ExchangeError:
        await self.limiter.acquire(weight, orders)
        self.sent += 1
        started = time.perf_counter()
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation.
            async with asyncio.timeout(self.timeout_s):
                value = await getattr(self.client, method)(**dict(params))
        except Exception as exc:
            if not isinstance(exc, TRANSLATABLE):
                raise
            response = getattr(exc, "response", None)
            if response is not None:
                await self._observe(response_headers(response))
            error = translate(exc, mutating=mutating)
            error.__cause__ = exc
            metrics.record_request(method, time.perf_counter() - started, error)
            await self._on_error(error)
            return error
        metrics.record_request(method, time.perf_counter() - started, None)
        await self._observe(response_headers(getattr(self.client, "response", None)))
        return _Ok(value)

    async def _observe(self, headers: Mapping[str, str]) -> None:
        metrics.record_headers(headers)
        await self.limiter.observe(headers)

    async def _on_error(self, error: ExchangeError) -> None:
        if isinstance(error, IpBannedError):
            if error.banned_until is not None:
                await self.limiter.ban(until_ms=datetime_to_ms(error.banned_until))
            else:
                await self.limiter.ban(error.retry_after)
        elif isinstance(error, RateLimitedError):
            self.rate_limited += 1
            await self.limiter.pause(error.retry_after if error.retry_after is not None else 1.0)


class _Ok:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value
