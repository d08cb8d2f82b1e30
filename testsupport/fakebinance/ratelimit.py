"""Binance-style fixed-window rate limits: request weight per IP, order counts per account.

Breaking a limit answers HTTP 429 (``Retry-After`` = seconds to the window's end). A client that
sends ``ban_after`` more requests while limited is banned: HTTP 418 with ``Retry-After`` for
``ban_seconds``, for every request until the ban ends.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import BinanceError


@dataclass
class RateLimitConfig:
    weight_per_minute: int = 2400
    orders_per_10s: int = 300
    orders_per_minute: int = 1200
    ban_after: int = 1  # requests tolerated (each answered 429) while limited before the 418 ban
    ban_seconds: int = 120
    enabled: bool = True


@dataclass
class _Window:
    size_ms: int
    start: int = 0
    used: int = 0

    def roll(self, now: int) -> None:
        start = now // self.size_ms * self.size_ms
        if start != self.start:
            self.start, self.used = start, 0

    def retry_after(self, now: int) -> int:
        return max(1, math.ceil((self.start + self.size_ms - now) / 1000))


@dataclass
class RateLimiter:
    config: RateLimitConfig
    clock: Callable[[], int]
    weight: dict[str, _Window] = field(default_factory=dict)
    orders_10s: dict[str, _Window] = field(default_factory=dict)
    orders_1m: dict[str, _Window] = field(default_factory=dict)
    limited_until: dict[str, int] = field(default_factory=dict)
    strikes: dict[str, int] = field(default_factory=dict)
    banned_until: dict[str, int] = field(default_factory=dict)

    def _win(self, table: dict[str, _Window], key: str, size: int) -> _Window:
        win = table.setdefault(key, _Window(size))
        win.roll(self.clock())
        return win

    def check_ban(self, ip: str) -> None:
        """Raise 418 while ``ip`` is banned, and 429 / 418 for requests sent while limited."""
        now = self.clock()
        if self.banned_until.get(ip, 0) > now:
            raise self._teapot(ip, now)
        if self.limited_until.get(ip, 0) > now:
            self.strikes[ip] = self.strikes.get(ip, 0) + 1
            if self.strikes[ip] > self.config.ban_after:
                self.banned_until[ip] = now + self.config.ban_seconds * 1000
                raise self._teapot(ip, now)
            raise _too_many(
                -1003, "Too many requests; current limit is exceeded.", self._retry(ip, now)
            )

    def _retry(self, ip: str, now: int) -> int:
        return max(1, math.ceil((self.limited_until[ip] - now) / 1000))

    def _teapot(self, ip: str, now: int) -> BinanceError:
        until = self.banned_until[ip]
        return BinanceError(
            -1003,
            f"Way too many requests; IP(127.0.0.1) banned until {until}.",
            418,
            retry_after=max(1, math.ceil((until - now) / 1000)),
        )

    def add_weight(self, ip: str, weight: int) -> int:
        """Count ``weight`` for ``ip``; raise 429 -1003 if it breaks the limit. Return used."""
        if not self.config.enabled:
            return 0
        now = self.clock()
        win = self._win(self.weight, ip, 60_000)
        win.used += weight
        if win.used > self.config.weight_per_minute:
            self.limited_until[ip] = win.start + win.size_ms
            self.strikes[ip] = 0
            raise _too_many(
                -1003,
                "Too many requests; current limit of IP(127.0.0.1) is "
                f"{self.config.weight_per_minute} requests per minute. Please use the websocket "
                "for live updates to avoid polling the API.",
                win.retry_after(now),
            )
        return win.used

    def used_weight(self, ip: str) -> int:
        return self._win(self.weight, ip, 60_000).used

    def add_order(self, account: str) -> tuple[int, int]:
        """Count one order; raise 429 -1015 if it breaks ORDERS. Return (10s, 1m) counts."""
        w10 = self._win(self.orders_10s, account, 10_000)
        w60 = self._win(self.orders_1m, account, 60_000)
        if not self.config.enabled:
            return w10.used, w60.used
        w10.used += 1
        w60.used += 1
        now = self.clock()
        for win, limit, name in (
            (w10, self.config.orders_per_10s, "10 seconds"),
            (w60, self.config.orders_per_minute, "1 minute"),
        ):
            if win.used > limit:
                raise _too_many(
                    -1015,
                    f"Too many new orders; current limit is {limit} orders per {name}.",
                    win.retry_after(now),
                )
        return w10.used, w60.used

    def order_counts(self, account: str) -> tuple[int, int]:
        return (
            self._win(self.orders_10s, account, 10_000).used,
            self._win(self.orders_1m, account, 60_000).used,
        )

    def reset(self) -> None:
        for table in (self.weight, self.orders_10s, self.orders_1m):
            table.clear()
        self.limited_until.clear()
        self.strikes.clear()
        self.banned_until.clear()


def _too_many(code: int, msg: str, retry_after: int) -> BinanceError:
    return BinanceError(code, msg, 429, retry_after=retry_after)


def _klines_weight(p: dict[str, str]) -> int:
    limit = int(p.get("limit") or 500)
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


def _depth_weight(p: dict[str, str]) -> int:
    limit = int(p.get("limit") or 500)
    return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20


_BY_SYMBOL: dict[str, tuple[int, int]] = {  # path -> (with symbol, without)
    "/fapi/v1/ticker/price": (1, 2),
    "/fapi/v2/ticker/price": (1, 2),
    "/fapi/v1/ticker/bookTicker": (2, 5),
    "/fapi/v1/premiumIndex": (1, 10),
    "/fapi/v1/openOrders": (1, 40),
    "/fapi/v1/openAlgoOrders": (1, 40),
    "/fapi/v1/ticker/24hr": (1, 40),
}
_FIXED: dict[tuple[str, str], int] = {
    ("POST", "/fapi/v1/order"): 0,
    ("POST", "/fapi/v1/algoOrder"): 0,
    ("GET", "/fapi/v2/account"): 5,
    ("GET", "/fapi/v3/account"): 5,
    ("GET", "/fapi/v2/balance"): 5,
    ("GET", "/fapi/v3/balance"): 5,
    ("GET", "/fapi/v2/positionRisk"): 5,
    ("GET", "/fapi/v3/positionRisk"): 5,
    ("GET", "/fapi/v1/userTrades"): 5,
    ("GET", "/fapi/v1/positionSide/dual"): 30,
    ("GET", "/fapi/v1/allOrders"): 5,
    ("GET", "/fapi/v1/allAlgoOrders"): 5,
    ("GET", "/fapi/v1/income"): 30,
    ("GET", "/fapi/v1/commissionRate"): 20,
    ("GET", "/fapi/v1/symbolConfig"): 5,
}


def request_weight(method: str, path: str, p: dict[str, str]) -> int:
    """Return Binance's IP weight for one request (1 where the fake knows no better)."""
    try:
        if path == "/fapi/v1/klines":
            return _klines_weight(p)
        if path == "/fapi/v1/depth":
            return _depth_weight(p)
    except ValueError:
        return 1
    if path in _BY_SYMBOL:
        with_symbol, without = _BY_SYMBOL[path]
        return with_symbol if p.get("symbol") else without
    return _FIXED.get((method, path), 1)
