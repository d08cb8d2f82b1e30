"""Streams over the fake's websockets: events, forced drops, reconnection and REST gap fill."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from apps.exchange.binance import BinanceFuturesExchange
from apps.exchange.binance.events import AccountUpdated, CandleClosed, StreamReconnected
from apps.exchange.binance.streams import BinanceStreams, StreamConfig
from apps.exchange.domain.events import OrderFilled, OrderUpdated
from apps.exchange.domain.types import BookTicker, OrderStatus, Side, ms_to_datetime
from apps.exchange.fakebinance import FakeBinance

from .conftest import requests_to, wait_until

FAST = StreamConfig(reconnect_base_s=0.3, reconnect_max_s=1.0, read_timeout_s=0.1)
MINUTE = 60_000
S = 1_750_000_000_000 // MINUTE * MINUTE  # inside the shipped BTCUSDT 1m data


@contextlib.asynccontextmanager
async def consuming(stream: AsyncIterator[Any]) -> AsyncIterator[asyncio.Queue]:
    """Run the stream in a task that puts every event on a queue; stop it on exit."""
    queue: asyncio.Queue = asyncio.Queue()

    async def pump() -> None:
        async for event in stream:
            await queue.put(event)

    task = asyncio.create_task(pump())
    try:
        yield queue
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


async def next_event(queue: asyncio.Queue, kind: type, where=lambda e: True, within=5.0) -> Any:
    async def find() -> Any:
        while True:
            event = await queue.get()
            if isinstance(event, kind) and where(event):
                return event

    return await asyncio.wait_for(find(), within)


async def test_user_stream_with_dropped_socket_reconnects_and_recovers_missed_fill(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    streams = BinanceStreams(exchange, FAST)
    async with consuming(streams.user_events()) as events:
        await wait_until(lambda: fake.hub.connections)
        print("L5", flush=True)
        limit = fake.price("SOLUSDT") - 1
        print("L6", flush=True)
        await exchange.place_limit_order(
            "SOLUSDT", Side.BUY, Decimal("1"), limit, client_order_id="gap-1"
        )
        await next_event(events, OrderUpdated, lambda e: e.order.client_order_id == "gap-1")
        print("L10", flush=True)
        first = fake.hub.connections[0]
        print("L11", flush=True)
        await fake.faults.drop_websockets()
        print("L12", flush=True)
        fake.set_price("SOLUSDT", limit - 1)  # fills while the stream is down
        print("L13", flush=True)
        recovered = await next_event(
            events, OrderUpdated, lambda e: e.order.status is OrderStatus.FILLED
        )
        assert recovered.order.client_order_id == "gap-1"
        print("L17", flush=True)
        assert recovered.order.filled_qty == Decimal("1")
        print("L18", flush=True)
        back = await next_event(events, StreamReconnected)
        print("L19", flush=True)
        assert back.recovered == 1
        print("L20", flush=True)
        assert fake.hub.connections and fake.hub.connections[0] is not first
        print("L21", flush=True)
        # resubscribed: new events flow on the new connection
        print("L22", flush=True)
        await exchange.place_market_order("ETHUSDT", Side.BUY, Decimal("0.01"))
        print("L23", flush=True)
        await next_event(events, OrderFilled)
        print("L24", flush=True)
