"""The webhook's two rates, counted in the cache (Redis when REDIS_URL is set, so a limit holds
across web processes) in fixed windows, one atomic increment per counted request (with Redis,
one round trip: ``SET NX EX`` and ``INCR`` pipelined):

- ``WEBHOOK_AUTH_FAILURE_RATE``: failed authentications per source address. Once a source is
  over it, its further *unauthenticated* requests are answered 429 instead of 400/401. An
  authenticated request from that source is never refused by it: TradingView posts from four
  shared addresses, so junk from an address must not block the valid alerts that come from it.
- ``WEBHOOK_THROTTLE_RATE``: authenticated alerts per bot (per shared passphrase for a bot that
  does not exist), whatever their source: what a leaked passphrase can cost is bounded.

If the cache cannot be reached the request is let through (and the failure logged): a
throttle must not turn a Redis outage into lost signals.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)

_PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
}


def parse_rate(rate: str, *, name: str = "WEBHOOK_THROTTLE_RATE") -> tuple[int, int]:
    """ "120/minute" -> (120, 60); raise ValueError naming the bad rate."""
    count, _, period = rate.partition("/")
    try:
        number, seconds = int(count), _PERIODS[period.strip().lower()]
    except (ValueError, KeyError):
        raise ValueError(
            f"{name} must look like 120/minute (second|minute|hour), got {rate!r}"
        ) from None
    if number < 1:
        raise ValueError(f"{name} must allow at least 1 request, got {rate!r}")
    return number, seconds


def _window(prefix: str, subject: str, period: int) -> tuple[str, float]:
    now = time.time()
    window = int(now // period)
    return f"{prefix}:{subject}:{window}", (window + 1) * period - now


_clients: dict[int, Any] = {}


def _redis_client(key: str) -> tuple[Any, str] | None:
    """The redis-py client and the full key behind Django's Redis cache; None for another cache.
    One client per connection pool (Django's backend builds a new client object per call,
    which costs more than the round trip on the hot path)."""
    default = caches["default"]
    if not isinstance(default, RedisCache):
        return None
    full = default.make_and_validate_key(key)
    backend = default._cache
    pool = id(backend._get_connection_pool(write=True))
    client = _clients.get(pool)
    if client is None:
        client = _clients[pool] = backend.get_client(full, write=True)
    return client, full


def _take(key: str, period: int) -> int:
    """Add one to the counter ``key``; return the new count."""
    redis = _redis_client(key)
    if redis is not None:
        client, full = redis
        pipe = client.pipeline(transaction=False)
        pipe.set(full, 0, ex=period + 1, nx=True)
        pipe.incr(full)
        return int(pipe.execute()[1])
    cache.add(key, 0, timeout=period + 1)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=period + 1)
        return 1


def source_key(source: str) -> str:
    # An address is short; the digest keeps an odd REMOTE_ADDR from making an odd cache key.
    return hashlib.sha256(source.encode("utf-8", "replace")).hexdigest()[:32]


def auth_failures_exceeded(source: str) -> float | None:
    """Seconds until the source may try again, when it is over its failed-authentication rate;
    None when it is not (the count is read, not increased)."""
    limit, period = parse_rate(settings.WEBHOOK_AUTH_FAILURE_RATE, name="WEBHOOK_AUTH_FAILURE_RATE")
    key, left = _window("webhook-authfail", source_key(source), period)
    try:
        count = int(cache.get(key) or 0)
    except Exception:
        logger.warning("webhook throttle: the cache cannot be read; not throttling", exc_info=True)
        return None
    return max(1.0, left) if count >= limit else None


def auth_failure_record(source: str) -> None:
    """Count one failed authentication from ``source``."""
    _, period = parse_rate(settings.WEBHOOK_AUTH_FAILURE_RATE, name="WEBHOOK_AUTH_FAILURE_RATE")
    key, _ = _window("webhook-authfail", source_key(source), period)
    try:
        _take(key, period)
    except Exception:
        logger.warning("webhook throttle: the cache cannot be written; not counting", exc_info=True)


def signal_rate_take(subject: str) -> float | None:
    """Count one authenticated alert for ``subject`` (a bot, or the shared passphrase); return
    the seconds to wait when it is over ``WEBHOOK_THROTTLE_RATE``, else None."""
    limit, period = parse_rate(settings.WEBHOOK_THROTTLE_RATE)
    key, left = _window("webhook-rate", subject, period)
    try:
        count = _take(key, period)
    except Exception:
        logger.warning(
            "webhook throttle: the cache cannot be reached; not throttling", exc_info=True
        )
        return None
    return max(1.0, left) if count > limit else None
