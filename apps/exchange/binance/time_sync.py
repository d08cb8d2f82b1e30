"""Keep python-binance's `timestamp_offset` in step with Binance's clock (futures_time)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

LocalClock = Callable[[], float]


class TimeSync:
    """Measure the server clock's offset and apply it to the client's signed timestamps.

    `sync()` asks GET /fapi/v1/time and assumes the server read its clock half-way through the
    round trip. The offset is also the limiter's clock correction (`server_time()`).
    """

    def __init__(self, client: Any, *, local_clock: LocalClock | None = None) -> None:
        self.client = client
        self.local_clock = local_clock or time.time
        self.offset_ms = 0
        self.syncs = 0

    def server_time(self) -> float:
        """Epoch seconds on Binance's clock (local clock plus the measured offset)."""
        return self.local_clock() + self.offset_ms / 1000

    async def sync(self, fetch: Callable[[], Awaitable[Any]] | None = None) -> int:
        """Measure and apply the offset; return it in ms. `fetch` defaults to futures_time."""
        before = self.local_clock()
        answer = await (fetch() if fetch is not None else self.client.futures_time())
        after = self.local_clock()
        midpoint_ms = (before + after) / 2 * 1000
        self.offset_ms = int(answer["serverTime"] - midpoint_ms)
        self.client.timestamp_offset = self.offset_ms
        self.syncs += 1
        return self.offset_ms
