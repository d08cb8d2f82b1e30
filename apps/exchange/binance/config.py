"""Settings of the Binance adapter (plain values: no Django, no environment reads here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Environment = Literal["live", "testnet", "demo"]


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Binance's published limits and the share of them the adapter allows itself.

    `safety_margin` 0.1 keeps 10 % of every budget in reserve (clock skew between our windows and
    the venue's, requests in flight). The window sizes exist so tests can scale time down; in
    production they are Binance's (60 s, 10 s, 60 s).
    """

    weight_per_minute: int = 2400
    orders_per_10s: int = 300
    orders_per_minute: int = 1200
    safety_margin: float = 0.1
    weight_window_s: float = 60.0
    orders_short_window_s: float = 10.0
    orders_long_window_s: float = 60.0

    def allowed(self, limit: int) -> int:
        return max(1, int(limit * (1 - self.safety_margin)))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter for temporary failures."""

    max_attempts: int = 5  # total tries of one request, the first included
    base_delay_s: float = 0.2
    max_delay_s: float = 5.0
    # After an unknown outcome on a new order: keep looking the order up for this long (from
    # the moment it was sent) before resending it. Binance refuses a request whose timestamp is
    # older than recvWindow (10 s with python-binance), so after that a late original can no
    # longer execute and the resend cannot duplicate it.
    unknown_outcome_window_s: float = 10.0
    max_resends: int = 3


@dataclass(frozen=True, slots=True)
class BinanceConfig:
    """How to reach Binance and how politely.

    `base_url` overrides the REST host for every environment (e.g. "http://127.0.0.1:8123" for
    the fake); `stream_url` likewise for websockets (keep the trailing slash).
    `redis_url` makes the rate limiter shared across processes; without it it is in-process.
    """

    api_key: str = ""
    api_secret: str = field(default="", repr=False)
    environment: Environment = "live"
    base_url: str | None = None
    stream_url: str | None = None
    request_timeout_s: float = 10.0
    working_type: Literal["CONTRACT_PRICE", "MARK_PRICE"] = "CONTRACT_PRICE"
    exchange_info_ttl_s: float = 3600.0
    reference_price_ttl_s: float = 10.0
    limits: RateLimits = field(default_factory=RateLimits)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    redis_url: str | None = None
    limiter_namespace: str = "binance:usdm"
    ip_key: str = "default"
    account_key: str | None = None  # defaults to a hash of the API key
