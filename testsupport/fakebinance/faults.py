"""Fault injection: make the next requests fail, hang, lose their answer, or fill partially.

Faults match on path (exact, e.g. "/fapi/v1/order"; None = any path) and method (None = any),
and are used up one request at a time in the order they were added.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .exchange import Exchange
    from .streams import StreamHub

UNKNOWN_BODY = json.dumps(
    {"code": -1000, "msg": "Unknown error, please check your request or try again later."}
)
SERVER_ERROR_BODIES = {
    500: json.dumps(
        {"code": -1000, "msg": "An unknown error occurred while processing the request."}
    ),
    502: "<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>",
    503: json.dumps({"code": -1008, "msg": "Server is currently overloaded with other requests."}),
    504: "<html><head><title>504 Gateway Time-out</title></head>"
    "<body>Gateway Time-out</body></html>",
}


@dataclass
class Fault:
    kind: str  # "status" | "unknown" | "delay" | "timestamp"
    path: str | None
    method: str | None
    remaining: int
    status: int = 500
    body: str | None = None
    seconds: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        return (self.path is None or self.path == path) and (
            self.method is None or self.method == method
        )


class Faults:
    """The Python fault API; ``FakeBinance.faults`` is one of these."""

    def __init__(self, exchange: Exchange, hub: StreamHub) -> None:
        self._exchange = exchange
        self._hub = hub
        self.pending: list[Fault] = []

    def fail_next(
        self,
        path: str | None = None,
        *,
        count: int = 1,
        status: int = 500,
        method: str | None = None,
        body: str | None = None,
    ) -> None:
        """Answer the next ``count`` matching requests with ``status`` without processing them.

        The default bodies are Binance's: JSON {-1000} for 500, {-1008} for 503 and HTML pages
        for 502/504 (python-binance then reports code 0).
        """
        self.pending.append(Fault("status", path, method, count, status, body))

    def unknown_after_place(
        self, path: str = "/fapi/v1/order", *, count: int = 1, method: str = "POST"
    ) -> None:
        """Process the next ``count`` matching requests, then answer 503 "Unknown error".

        Only successful requests use the fault up: a rejected order still gets its rejection.
        """
        self.pending.append(Fault("unknown", path, method, count, 503, UNKNOWN_BODY))

    def delay_next(
        self, seconds: float, path: str | None = None, *, count: int = 1, method: str | None = None
    ) -> None:
        """Hold the next matching requests for ``seconds`` after authentication and before
        processing them (a client that times out first never learns the outcome; the request
        is still executed when the delay ends)."""
        self.pending.append(Fault("delay", path, method, count, seconds=seconds))

    def timestamp_error_next(
        self, path: str | None = None, *, count: int = 1, method: str | None = None
    ) -> None:
        """Reject the next matching signed requests with -1021 as if the clocks drifted."""
        self.pending.append(Fault("timestamp", path, method, count, 400))

    def partial_fill_next(self, fraction: Decimal | str | float = "0.5", *, count: int = 1) -> None:
        """Let the next ``count`` orders fill at most ``fraction`` of their quantity in their first
        match; MARKET/IOC remainders expire, GTC remainders rest and fill on later moves."""
        self._exchange.engine.partial_fills.extend([Decimal(str(fraction))] * count)

    async def drop_websockets(self, *, abrupt: bool = False) -> int:
        """Close every websocket connection (``abrupt``: cut the TCP connection). Return count."""
        return await self._hub.drop_all(abrupt=abrupt)

    def clear(self) -> None:
        self.pending.clear()
        self._exchange.engine.partial_fills.clear()

    def take(self, kind: str, method: str, path: str) -> Fault | None:
        """Use up one matching fault of ``kind`` (called by the server)."""
        for fault in self.pending:
            if fault.kind == kind and fault.matches(method, path):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.pending.remove(fault)
                return fault
        return None
