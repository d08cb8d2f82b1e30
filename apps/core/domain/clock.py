"""Clocks handed to the kernel: the kernel never reads the time itself."""

from __future__ import annotations

from datetime import UTC, datetime


class SettableClock:
    """A clock that says what it was last set to: simulated time for paper trading and replays.

    A plain object (not a closure), so a simulated exchange holding it can be pickled.
    """

    __slots__ = ("_now",)

    def __init__(self, now: datetime) -> None:
        self.set(now)

    def set(self, now: datetime) -> None:
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError(f"the clock needs a timezone-aware UTC time, got naive {now!r}")
        self._now = now.astimezone(UTC)

    def __call__(self) -> datetime:
        return self._now
