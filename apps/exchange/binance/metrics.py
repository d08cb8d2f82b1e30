"""What the Binance transport reports to Prometheus (``apps.metrics.registry``): each request's
round trip and outcome, 429s and 418 bans, and the weight and order counts the venue says are
used against its limits (from the ``X-MBX-*`` headers of every answer)."""

from __future__ import annotations

from collections.abc import Mapping

from apps.exchange.domain.errors import ExchangeError, IpBannedError, RateLimitedError
from apps.exchange.domain.types import datetime_to_ms
from apps.metrics import registry as m

from .config import RateLimits
from .limiter import HEADER_ORDERS_1M, HEADER_ORDERS_10S, HEADER_WEIGHT


def record_limits(limits: RateLimits) -> None:
    """Publish the venue's limits (what the used counts are compared with)."""
    m.EXCHANGE_WEIGHT_LIMIT.set(limits.weight_per_minute)
    m.EXCHANGE_ORDERS_LIMIT.labels("10s").set(limits.orders_per_10s)
    m.EXCHANGE_ORDERS_LIMIT.labels("1m").set(limits.orders_per_minute)


def record_request(method: str, seconds: float, error: ExchangeError | None) -> None:
    outcome = "ok" if error is None else type(error).__name__
    m.EXCHANGE_REQUESTS.labels(method, outcome).inc()
    m.EXCHANGE_DURATION.labels(method).observe(seconds)
    if isinstance(error, IpBannedError):
        m.EXCHANGE_BANS.inc()
        if error.banned_until is not None:
            m.EXCHANGE_BANNED_UNTIL.set(datetime_to_ms(error.banned_until) / 1000)
    elif isinstance(error, RateLimitedError):
        m.EXCHANGE_RATE_LIMITED.inc()


def record_headers(headers: Mapping[str, str]) -> None:
    for header, gauge in (
        (HEADER_WEIGHT, m.EXCHANGE_WEIGHT_USED),
        (HEADER_ORDERS_10S, m.EXCHANGE_ORDERS_USED.labels("10s")),
        (HEADER_ORDERS_1M, m.EXCHANGE_ORDERS_USED.labels("1m")),
    ):
        raw = _header(headers, header)
        if raw is not None:
            try:
                gauge.set(int(raw))
            except ValueError:
                continue


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    return value
