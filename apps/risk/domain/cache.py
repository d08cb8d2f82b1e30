"""A tiny time-to-live cache that reads no clock: every call takes `now`.

Adapters use it for the 5-minute CryptoVIX reading and the 1-hour correlation matrix. The
caller passes the time of its own injected clock (live or simulated), so a backtest on an
accelerated clock expires entries exactly as live does.

An entry stored at `t` is fresh while `now < t + ttl` and expired from `t + ttl` on. A `now`
earlier than the store time (a clock that went backwards) counts as fresh.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from apps.risk.domain.types import require_utc

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class _Entry(Generic[V]):
    value: V
    stored_at: datetime


class TTLCache(Generic[K, V]):
    """Map keys to values that expire `ttl` after they were stored."""

    def __init__(self, ttl: timedelta, max_entries: int = 1024) -> None:
        if ttl <= timedelta(0):
            raise ValueError(f"ttl must be positive, got {ttl}")
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[K, _Entry[V]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def _is_fresh(self, entry: _Entry[V], now: datetime) -> bool:
        return now < entry.stored_at + self.ttl

    def get(self, key: K, now: datetime) -> V | None:
        """Return the fresh value for `key`, or None if absent or expired (and drop it)."""
        require_utc(now, "now")
        entry = self._entries.get(key)
        if entry is None:
            return None
        if not self._is_fresh(entry, now):
            del self._entries[key]
            return None
        return entry.value

    def put(self, key: K, value: V, now: datetime) -> None:
        """Store `value` under `key` as of `now`, evicting expired then oldest entries if full."""
        require_utc(now, "now")
        self._entries.pop(key, None)
        if len(self._entries) >= self.max_entries:
            self.purge(now)
        while len(self._entries) >= self.max_entries:
            oldest = min(self._entries, key=lambda k: self._entries[k].stored_at)
            del self._entries[oldest]
        self._entries[key] = _Entry(value, now)

    def get_or_compute(self, key: K, now: datetime, compute: Callable[[], V]) -> V:
        """Return the fresh value for `key`, or call `compute()`, store and return its result."""
        value = self.get(key, now)
        if value is None:
            value = compute()
            self.put(key, value, now)
        return value

    def age(self, key: K, now: datetime) -> timedelta | None:
        """Return how long ago the fresh value for `key` was stored, or None."""
        if self.get(key, now) is None:
            return None
        return now - self._entries[key].stored_at

    def invalidate(self, key: K | None = None) -> None:
        """Drop `key`, or every entry when `key` is None."""
        if key is None:
            self._entries.clear()
        else:
            self._entries.pop(key, None)

    def purge(self, now: datetime) -> int:
        """Drop every expired entry; return how many were dropped."""
        require_utc(now, "now")
        stale = [k for k, e in self._entries.items() if not self._is_fresh(e, now)]
        for k in stale:
            del self._entries[k]
        return len(stale)
