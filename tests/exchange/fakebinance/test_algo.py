"""Conditional orders: python-binance routes them to /fapi/v1/algoOrder; the fake triggers them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from binance import AsyncClient
from binance.exceptions import BinanceAPIException

from testsupport.fakebinance import FakeBinance

pytestmark = pytest.mark.asyncio


async def _long(client: AsyncClient, qty: str = "0.01") -> None:
    await client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity=qty)


async def test_stop_market_with_create_order_goes_to_algo_endpoint_and_fires_on_mark(
    fake: FakeBinance, client: AsyncClient
) -> None:
    await _long(client)
    price = fake.price("BTCUSDT")
    trigger = (price * Decimal("0.99")).quantize(Decimal("0.1"))
    algo = await client.futures_create_order(
        symbol="BTCUSDT",
        side="SELL",
        type="STOP_MARKET",
        stopPrice=str(trigger),
        quantity="0.01",
        reduceOnly="true",
        workingType="MARK_PRICE",
    )
    assert fake.requests[-1][1] == "/fapi/v1/algoOrder"
    assert algo["algoStatus"] == "NEW" and "orderId" not in algo
    assert algo["clientAlgoId"].startswith("x-Cb7ytekJ")
    assert Decimal(algo["triggerPrice"]) == trigger
    open_algos = await client.futures_get_open_orders(conditional=True)
    assert [a["algoId"] for a in open_algos] == [algo["algoId"]]
    assert await client.futures_get_open_orders() == []

    fake.set_price("BTCUSDT", trigger + 10, mark=trigger + 10)
    still = await client.futures_get_order(symbol="BTCUSDT", algoId=algo["algoId"])
    assert still["algoStatus"] == "NEW"
    fake.set_price("BTCUSDT", price, mark=trigger - 1)  # only the mark crosses
    done = await client.futures_get_order(symbol="BTCUSDT", algoId=algo["algoId"])
    assert done["algoStatus"] == "FINISHED"
    actual = await client.futures_get_order(symbol="BTCUSDT", orderId=int(done["actualOrderId"]))
    assert actual["status"] == "FILLED" and actual["origType"] == "STOP_MARKET"
    rows = await client.futures_position_information(symbol="BTCUSDT")
    assert rows == [] or Decimal(rows[0]["positionAmt"]) == 0


async def test_stop_market_with_contract_price_ignores_mark_only_move(
    fake: FakeBinance, client: AsyncClient
) -> None:
    await _long(client)
    price = fake.price("BTCUSDT")
    trigger = (price * Decimal("0.99")).quantize(Decimal("0.1"))
    algo = await client.futures_create_order(
        symbol="BTCUSDT",
        side="SELL",
        type="STOP_MARKET",
        stopPrice=str(trigger),
        closePosition="true",
    )
    fake.set_price("BTCUSDT", price, mark=trigger - 1)
    assert (await client.futures_get_order(symbol="BTCUSDT", algoId=algo["algoId"]))[
        "algoStatus"
    ] == "NEW"
    fake.set_price("BTCUSDT", trigger - 1)
    assert (await client.futures_get_order(symbol="BTCUSDT", algoId=algo["algoId"]))[
        "algoStatus"
    ] == "FINISHED"
    assert fake.exchange.account.position("BTCUSDT", "BOTH").amt == 0


async def test_stop_with_trigger_already_crossed_raises_2021(
    fake: FakeBinance, client: AsyncClient
) -> None:
    above = (fake.price("BTCUSDT") * Decimal("1.01")).quantize(Decimal("0.1"))
    with pytest.raises(BinanceAPIException) as exc:
        await client.futures_create_order(
            symbol="BTCUSDT",
            side="SELL",
            type="STOP_MARKET",
            stopPrice=str(above),
            quantity="0.01",
        )
    assert exc.value.code == -2021


async def test_take_profit_with_cancel_by_client_algo_id_is_canceled(
    fake: FakeBinance, client: AsyncClient
) -> None:
    await _long(client)
    above = (fake.price("BTCUSDT") * Decimal("1.02")).quantize(Decimal("0.1"))
    await client.futures_create_algo_order(
        symbol="BTCUSDT",
        side="SELL",
        type="TAKE_PROFIT_MARKET",
        triggerPrice=str(above),
        quantity="0.01",
        reduceOnly="true",
        clientAlgoId="tp-1",
    )
    canceled = await client.futures_cancel_order(symbol="BTCUSDT", clientAlgoId="tp-1")
    assert canceled["code"] == "200"
    queried = await client.futures_get_order(symbol="BTCUSDT", clientAlgoId="tp-1")
    assert queried["algoStatus"] == "CANCELED"
    fake.set_price("BTCUSDT", above + 10)
    assert fake.exchange.account.position("BTCUSDT", "BOTH").amt == Decimal("0.01")


async def test_trailing_stop_with_activate_price_fires_after_retrace(
    fake: FakeBinance, client: AsyncClient
) -> None:
    await _long(client)
    price = fake.price("BTCUSDT")
    activate = (price + 100).quantize(Decimal("0.1"))
    algo = await client.futures_create_order(
        symbol="BTCUSDT",
        side="SELL",
        type="TRAILING_STOP_MARKET",
        activatePrice=str(activate),
        callbackRate="1",
        quantity="0.01",
        reduceOnly="true",
    )
    fake.set_price("BTCUSDT", activate + 1000)  # activates, new high
    fake.set_price("BTCUSDT", activate + 500)  # retrace < 1 %
    status = await client.futures_get_order(symbol="BTCUSDT", algoId=algo["algoId"])
    assert status["algoStatus"] == "NEW"
    fake.set_price("BTCUSDT", (activate + 1000) * Decimal("0.985"))
    status = await client.futures_get_order(symbol="BTCUSDT", algoId=algo["algoId"])
    assert status["algoStatus"] == "FINISHED"


async def test_close_position_with_quantity_raises_4137(client: AsyncClient) -> None:
    with pytest.raises(BinanceAPIException) as exc:
        await client.futures_create_algo_order(
            symbol="BTCUSDT",
            side="SELL",
            type="STOP_MARKET",
            triggerPrice="1000",
            closePosition="true",
            quantity="0.01",
        )
    assert exc.value.code == -4137


async def test_cancel_all_algo_with_open_algos_leaves_none(
    fake: FakeBinance, client: AsyncClient
) -> None:
    below = (fake.price("ETHUSDT") * Decimal("0.9")).quantize(Decimal("0.01"))
    for _ in range(2):
        await client.futures_create_order(
            symbol="ETHUSDT",
            side="SELL",
            type="STOP_MARKET",
            stopPrice=str(below),
            quantity="0.05",
        )
    await client.futures_cancel_all_open_orders(symbol="ETHUSDT", conditional=True)
    assert await client.futures_get_open_orders(conditional=True) == []
