"""Requests per source address, counted in the cache (Redis when REDIS_URL is set, so the limit
holds across web processes): a fixed window, one atomic increment per request."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from apps.webhook.services import client_ip

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


def parse_rate(rate: str) -> tuple[int, int]:
    """ "120/minute" -> (120, 60); raise ValueError naming the bad rate."""
    count, _, period = rate.partition("/")
    try:
        number, seconds = int(count), _PERIODS[period.strip().lower()]
    except (ValueError, KeyError):
        raise ValueError(
            f"WEBHOOK_THROTTLE_RATE must look like 120/minute (second|minute|hour), got {rate!r}"
        ) from None
    if number < 1:
        raise ValueError(f"WEBHOOK_THROTTLE_RATE must allow at least 1 request, got {rate!r}")
    return number, seconds


class WebhookSourceThrottle(BaseThrottle):
    def __init__(self) -> None:
        self.limit, self.period = parse_rate(settings.WEBHOOK_THROTTLE_RATE)
        self.retry_after = 0.0

    def allow_request(self, request: Request, view: Any) -> bool:
        now = time.time()
        window = int(now // self.period)
        key = f"webhook-throttle:{client_ip(request)}:{window}"
        cache.add(key, 0, timeout=self.period + 1)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=self.period + 1)
            count = 1
        if count <= self.limit:
            return True
        self.retry_after = (window + 1) * self.period - now
        return False

    def wait(self) -> float:
        return max(1.0, self.retry_after)
