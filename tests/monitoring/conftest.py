"""Closed trades and a real local HTTP server that receives webhooks."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from apps.bots.models import Bot
from apps.monitoring import notifications
from apps.trading.models import Trade

NOW = datetime(2026, 1, 25, 12, 0, tzinfo=UTC)


def make_closed_trade(
    bot: Bot,
    net: str,
    *,
    exit_time: datetime,
    held: timedelta = timedelta(minutes=30),
    mode: str = "SCALP",
    fees: str = "0",
) -> Trade:
    """A closed trade whose net PnL is `net` (realised PnL minus `fees`); ROI on 1000 margin."""
    net_pnl = Decimal(net)
    return Trade.objects.create(
        bot=bot,
        symbol="BTCUSDT",
        side="LONG",
        mode=mode,
        quantity=Decimal("0.05"),
        entry_price=Decimal("60000"),
        exit_price=Decimal("60000") + net_pnl / Decimal("0.05"),
        leverage=3,
        entry_time=exit_time - held,
        exit_time=exit_time,
        status=Trade.Status.CLOSED,
        roi=net_pnl / Decimal(1000) * 100,
        realized_pnl=net_pnl + Decimal(fees),
        fees=Decimal(fees),
    )


def close_series(bot: Bot, results: list[str], *, end: datetime, span: timedelta) -> None:
    """Close one trade per result, evenly spread over (end - span, end]."""
    step = span / len(results)
    for i, net in enumerate(results):
        make_closed_trade(bot, net, exit_time=end - span + step * (i + 1))


@dataclass
class WebhookReceiver:
    url: str
    statuses: list[int]
    requests: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def no_retry_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notifications, "WEBHOOK_RETRY_DELAY_SECONDS", 0.0)


@pytest.fixture
def webhook_server(no_retry_delay: None) -> Iterator[Callable[..., WebhookReceiver]]:
    """Start a real HTTP server on 127.0.0.1; it answers the given statuses in turn (the last
    one repeats) and records each request's headers and raw body."""
    servers: list[ThreadingHTTPServer] = []

    def start(statuses: list[int] | None = None) -> WebhookReceiver:
        receiver = WebhookReceiver(url="", statuses=list(statuses or [200]))

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers.items()), "body": body}
                )
                index = min(len(receiver.requests), len(receiver.statuses)) - 1
                status = receiver.statuses[index]
                reply = json.dumps({"ok": status < 400}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts"
        return receiver

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
