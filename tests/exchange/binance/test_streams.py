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
from testsupport.fakebinance import FakeBinance

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


async def test_user_stream_with_market_order_yields_order_fill_and_account_events(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    streams = BinanceStreams(exchange, FAST)
    async with consuming(streams.user_events()) as events:
        await wait_until(lambda: fake.hub.connections)
        await exchange.place_market_order(
            "ETHUSDT", Side.BUY, Decimal("0.01"), client_order_id="ws-1"
        )
        new = await next_event(events, OrderUpdated)
        assert new.order.client_order_id == "ws-1" and new.order.status is OrderStatus.NEW
        filled = await next_event(events, OrderFilled)
        assert filled.fill.qty == Decimal("0.01") and not filled.fill.is_maker
        assert filled.order.status is OrderStatus.FILLED
        account = await next_event(events, AccountUpdated)
        assert account.reason == "ORDER" and account.positions[0].quantity == Decimal("0.01")


async def test_user_stream_with_algo_order_yields_conditional_updates(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    streams = BinanceStreams(exchange, FAST)
    async with consuming(streams.user_events()) as events:
        await wait_until(lambda: fake.hub.connections)
        price = (await exchange.get_ticker("BTCUSDT")).price
        await exchange.place_stop_market_order(
            "BTCUSDT", Side.SELL, Decimal("0.002"), price * Decimal("0.95"), client_order_id="a-1"
        )
        placed = await next_event(events, OrderUpdated, lambda e: e.order.algo_id is not None)
        assert placed.order.client_order_id == "a-1" and placed.order.status is OrderStatus.NEW


async def test_user_stream_with_dropped_socket_reconnects_and_recovers_missed_fill(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    streams = BinanceStreams(exchange, FAST)
    async with consuming(streams.user_events()) as events:
        await wait_until(lambda: fake.hub.connections)
        limit = fake.price("SOLUSDT") - 1
        await exchange.place_limit_order(
            "SOLUSDT", Side.BUY, Decimal("1"), limit, client_order_id="gap-1"
        )
        await next_event(events, OrderUpdated, lambda e: e.order.client_order_id == "gap-1")
        first = fake.hub.connections[0]
        await fake.faults.drop_websockets()
        fake.set_price("SOLUSDT", limit - 1)  # fills while the stream is down
        recovered = await next_event(
            events, OrderUpdated, lambda e: e.order.status is OrderStatus.FILLED
        )
        assert recovered.order.client_order_id == "gap-1"
        assert recovered.order.filled_qty == Decimal("1")
        back = await next_event(events, StreamReconnected)
        assert back.recovered == 1
        await wait_until(lambda: any(c is not first for c in fake.hub.connections))
        # resubscribed: new events flow on the new connection
        await exchange.place_market_order("ETHUSDT", Side.BUY, Decimal("0.01"))
        await next_event(events, OrderFilled)


async def test_user_stream_with_expired_listen_key_reconnects_with_new_key(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    streams = BinanceStreams(exchange, FAST)
    async with consuming(streams.user_events()) as events:
        await wait_until(lambda: fake.hub.connections)
        old = fake.listen_key
        fake.listen_key_close(old)  # the fake sends listenKeyExpired and closes the socket
        await next_event(events, StreamReconnected)
        assert fake.listen_key and fake.listen_key != old
        await exchange.place_market_order("ETHUSDT", Side.BUY, Decimal("0.01"))
        await next_event(events, OrderFilled)


async def test_user_stream_with_short_keepalive_interval_keeps_key_alive(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    config = StreamConfig(reconnect_base_s=0.3, read_timeout_s=0.1, keepalive_interval_s=0.05)
    streams = BinanceStreams(exchange, config)
    async with consuming(streams.user_events()):
        await wait_until(lambda: requests_to(fake, "PUT", "/fapi/v1/listenKey") >= 2)


async def test_kline_stream_with_drop_reconnects_and_gap_fills_missed_candle(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    streams = BinanceStreams(exchange, FAST)
    async with consuming(streams.candles("BTCUSDT", "1m")) as events:
        await wait_until(lambda: fake.hub.connections)
        fake.exchange.replay("BTCUSDT", "1m", start=S, count=1)
        live = await next_event(events, CandleClosed)
        assert live.candle.open_time == ms_to_datetime(S) and not live.gap_fill
        await fake.faults.drop_websockets()
        fake.exchange.replay("BTCUSDT", "1m", start=S + MINUTE, count=1)  # closes while down
        missed = await next_event(events, CandleClosed)
        assert missed.candle.open_time == ms_to_datetime(S + MINUTE) and missed.gap_fill
        assert (await next_event(events, StreamReconnected)).recovered == 1
        await wait_until(lambda: fake.hub.connections)
        fake.exchange.replay("BTCUSDT", "1m", start=S + 2 * MINUTE, count=1)
        after = await next_event(events, CandleClosed)  # resubscribed, nothing duplicated
        assert after.candle.open_time == ms_to_datetime(S + 2 * MINUTE) and not after.gap_fill


async def test_book_ticker_stream_with_price_move_yields_book_ticker(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    streams = BinanceStreams(exchange, FAST)
    async with consuming(streams.book_tickers("BTCUSDT")) as events:
        await wait_until(lambda: fake.hub.connections)
        fake.set_price("BTCUSDT", "100000")
        top = await next_event(events, BookTicker)
        assert top.bid_price == Decimal("100000.00") and top.ask_price > top.bid_price


@pytest.mark.parametrize("levels", [5])
async def test_depth_stream_with_price_move_yields_book(
    fake: FakeBinance, exchange: BinanceFuturesExchange, levels: int
) -> None:
    from apps.exchange.domain.types import OrderBook

    streams = BinanceStreams(exchange, FAST)
    async with consuming(streams.depth("BTCUSDT", levels)) as events:
        await wait_until(lambda: fake.hub.connections)
        fake.set_price("BTCUSDT", "100000")
        book = await next_event(events, OrderBook)
        assert len(book.bids) == levels and book.best_bid < book.best_ask


async def test_user_stream_with_abrupt_tcp_cut_reconnects_and_recovers_missed_fill(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    streams = BinanceStreams(exchange, FAST)
    async with consuming(streams.user_events()) as events:
        await wait_until(lambda: fake.hub.connections)
        limit = fake.price("SOLUSDT") - 1
        await exchange.place_limit_order(
            "SOLUSDT", Side.BUY, Decimal("1"), limit, client_order_id="cut-1"
        )
        await next_event(events, OrderUpdated, lambda e: e.order.client_order_id == "cut-1")
        await fake.faults.drop_websockets(abrupt=True)
        fake.set_price("SOLUSDT", limit - 1)
        recovered = await next_event(
            events, OrderUpdated, lambda e: e.order.status is OrderStatus.FILLED
        )
        assert recovered.order.client_order_id == "cut-1"
        assert (await next_event(events, StreamReconnected)).recovered == 1
