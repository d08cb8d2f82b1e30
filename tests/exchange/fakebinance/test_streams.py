"""Websocket streams through python-binance's BinanceSocketManager pointed at the fake."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import aiohttp
import pytest
from binance import AsyncClient

from testsupport.fakebinance import FakeBinance, socket_manager

from .conftest import quick, recv_until, wait_until

pytestmark = pytest.mark.asyncio


async def test_user_socket_with_market_order_receives_order_and_account_updates(
    fake: FakeBinance, client: AsyncClient
) -> None:
    bm = socket_manager(fake, client)
    async with quick(bm.futures_user_socket()) as stream:
        await wait_until(lambda: fake.hub.connections)
        assert fake.hub.connections[0].request.path == "/private/ws"
        await client.futures_create_order(
            symbol="ETHUSDT", side="BUY", type="MARKET", quantity="0.01", newClientOrderId="ws-1"
        )
        new = await recv_until(stream, "ORDER_TRADE_UPDATE")
        assert new["o"]["x"] == "NEW" and new["o"]["c"] == "ws-1"
        trade = await recv_until(stream, "ORDER_TRADE_UPDATE")
        assert trade["o"]["x"] == "TRADE" and trade["o"]["X"] == "FILLED"
        assert Decimal(trade["o"]["l"]) == Decimal("0.01") and trade["o"]["m"] is False
        account = await recv_until(stream, "ACCOUNT_UPDATE")
        assert account["a"]["m"] == "ORDER"
        assert account["a"]["P"][0]["s"] == "ETHUSDT" and account["a"]["P"][0]["pa"] == "0.010"


async def test_user_socket_with_algo_order_receives_algo_update(
    fake: FakeBinance, client: AsyncClient
) -> None:
    bm = socket_manager(fake, client)
    async with quick(bm.futures_user_socket()) as stream:
        await wait_until(lambda: fake.hub.connections)
        below = (fake.price("BTCUSDT") * Decimal("0.95")).quantize(Decimal("0.1"))
        algo = await client.futures_create_order(
            symbol="BTCUSDT",
            side="SELL",
            type="STOP_MARKET",
            stopPrice=str(below),
            quantity="0.01",
        )
        event = await recv_until(stream, "ALGO_UPDATE")
        assert event["o"]["aid"] == algo["algoId"] and event["o"]["X"] == "NEW"
        fake.set_price("BTCUSDT", below - 10)
        statuses = []
        while "FINISHED" not in statuses:
            statuses.append((await recv_until(stream, "ALGO_UPDATE"))["o"]["X"])
        assert statuses == ["TRIGGERING", "TRIGGERED", "FINISHED"]


async def test_market_streams_with_price_change_push_book_ticker_depth_kline_and_mark(
    fake: FakeBinance, client: AsyncClient
) -> None:
    bm = socket_manager(fake, client)
    streams = [
        "btcusdt@bookTicker",
        "btcusdt@depth5@100ms",
        "btcusdt@kline_1m",
        "btcusdt@markPrice@1s",
    ]
    async with quick(bm.futures_multiplex_socket(streams, category="public")) as stream:
        await wait_until(lambda: fake.hub.connections)
        fake.set_price("BTCUSDT", "100000")
        seen: dict[str, dict] = {}
        while len(seen) < 4:
            msg = await asyncio.wait_for(stream.recv(), 5)
            seen[msg["stream"]] = msg["data"]
    assert seen["btcusdt@bookTicker"]["b"] == "100000.00"
    assert seen["btcusdt@bookTicker"]["a"] == "100000.10"
    assert len(seen["btcusdt@depth5@100ms"]["b"]) == 5
    assert seen["btcusdt@kline_1m"]["k"]["c"] == "100000.00"
    assert seen["btcusdt@markPrice@1s"]["p"] == "100000.00000000"


async def test_drop_websockets_with_user_socket_reconnects(
    fake: FakeBinance, client: AsyncClient
) -> None:
    bm = socket_manager(fake, client)
    async with quick(bm.futures_user_socket()) as stream:
        await wait_until(lambda: fake.hub.connections)
        first = fake.hub.connections[0]
        assert await fake.faults.drop_websockets() == 1
        error = await asyncio.wait_for(stream.recv(), 5)
        assert error["e"] == "error"
        await wait_until(
            lambda: fake.hub.connections and fake.hub.connections[0] is not first, within=10
        )
        await client.futures_create_order(
            symbol="ETHUSDT", side="BUY", type="MARKET", quantity="0.01"
        )
        assert (await recv_until(stream, "ORDER_TRADE_UPDATE"))["o"]["x"] == "NEW"


async def test_continuous_kline_socket_with_replay_receives_closed_shipped_candle(
    fake: FakeBinance, client: AsyncClient
) -> None:
    bm = socket_manager(fake, client)
    candles = fake.exchange.data.candles("SOLUSDT", "1m")
    async with quick(bm.kline_futures_socket("SOLUSDT")) as stream:
        await wait_until(lambda: fake.hub.connections)
        assert fake.hub.connections[0].request.path.startswith("/market/ws/")
        fake.exchange.replay("SOLUSDT", "1m", start=candles.open_time[100], count=1)
        closed = None
        while closed is None:
            msg = await recv_until(stream, "continuous_kline")
            closed = msg if msg["k"]["x"] else None
    assert closed["ps"] == "SOLUSDT" and closed["ct"] == "PERPETUAL"
    assert closed["k"]["t"] == candles.open_time[100]
    assert closed["k"]["c"] == candles.close[100] and closed["k"]["h"] == candles.high[100]


async def test_mark_price_socket_with_mark_change_receives_update(
    fake: FakeBinance, client: AsyncClient
) -> None:
    bm = socket_manager(fake, client)
    async with quick(bm.symbol_mark_price_socket("ETHUSDT")) as stream:
        await wait_until(lambda: fake.hub.connections)
        fake.set_price("ETHUSDT", "3000", mark="3001.5")
        event = await recv_until(stream, "markPriceUpdate")
    assert Decimal(event["p"]) == Decimal("3001.5")
    assert event["T"] == fake.exchange.next_funding_time()


async def test_listen_key_close_with_open_user_stream_sends_expired_then_closes(
    fake: FakeBinance,
) -> None:
    key = fake.listen_key_get_or_create()
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{fake.ws_url}private/ws?listenKey={key}") as ws:
            await wait_until(lambda: fake.hub.connections)
            fake.listen_key_close(key)
            first = await asyncio.wait_for(ws.receive(), 5)
            assert first.type == aiohttp.WSMsgType.TEXT
            assert json.loads(first.data) == {
                "e": "listenKeyExpired",
                "E": json.loads(first.data)["E"],
                "listenKey": key,
            }
            closing = await asyncio.wait_for(ws.receive(), 5)
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        async with http.get(f"{fake.ws_url}private/ws?listenKey={key}") as resp:
            assert resp.status == 400


async def test_subscribe_with_raw_websocket_adds_stream_and_answers_result(
    fake: FakeBinance,
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{fake.ws_url}public/ws") as ws,
    ):
        await ws.send_json({"method": "SUBSCRIBE", "params": ["adausdt@bookTicker"], "id": 3})
        reply = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
        assert reply == {"result": None, "id": 3}
        fake.set_price("ADAUSDT", "0.61234")
        ticker = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
        assert ticker["e"] == "bookTicker" and ticker["b"] == "0.61230"
