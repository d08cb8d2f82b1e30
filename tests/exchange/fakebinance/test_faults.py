"""Injected faults, seen through the real python-binance AsyncClient."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from binance import AsyncClient
from binance.exceptions import BinanceAPIException

from testsupport.fakebinance import FakeBinance

from .conftest import wait_until

pytestmark = pytest.mark.asyncio


async def test_fail_next_with_500_answers_then_recovers(
    fake: FakeBinance, client: AsyncClient
) -> None:
    fake.faults.fail_next("/fapi/v1/ticker/bookTicker", count=2, status=500)
    for _ in range(2):
        with pytest.raises(BinanceAPIException) as exc:
            await client.futures_orderbook_ticker(symbol="BTCUSDT")
        assert exc.value.status_code == 500 and exc.value.code == -1000
    assert (await client.futures_orderbook_ticker(symbol="BTCUSDT"))["symbol"] == "BTCUSDT"


async def test_fail_next_with_502_html_body_gives_code_zero_and_no_order(
    fake: FakeBinance, client: AsyncClient
) -> None:
    fake.faults.fail_next("/fapi/v1/order", status=502, method="POST")
    with pytest.raises(BinanceAPIException) as exc:
        await client.futures_create_order(
            symbol="ETHUSDT", side="BUY", type="MARKET", quantity="0.01"
        )
    assert exc.value.status_code == 502 and exc.value.code == 0
    assert fake.exchange.engine.orders == {}


async def test_unknown_after_place_with_new_order_answers_503_but_order_exists(
    fake: FakeBinance, client: AsyncClient
) -> None:
    fake.faults.unknown_after_place()
    with pytest.raises(BinanceAPIException) as exc:
        await client.futures_create_order(
            symbol="ETHUSDT", side="BUY", type="MARKET", quantity="0.01", newClientOrderId="u-1"
        )
    assert exc.value.status_code == 503
    assert "Unknown error" in exc.value.message
    order = await client.futures_get_order(symbol="ETHUSDT", origClientOrderId="u-1")
    assert order["status"] == "FILLED"


async def test_delay_with_client_giving_up_still_places_order(
    fake: FakeBinance, client: AsyncClient
) -> None:
    fake.faults.delay_next(0.3, "/fapi/v1/order", method="POST")
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(
            client.futures_create_order(
                symbol="ETHUSDT", side="BUY", type="MARKET", quantity="0.01", newClientOrderId="d-1"
            ),
            0.05,
        )
    await wait_until(lambda: fake.exchange.engine.orders)
    order = await client.futures_get_order(symbol="ETHUSDT", origClientOrderId="d-1")
    assert order["status"] == "FILLED"


async def test_timestamp_error_next_with_signed_call_raises_1021_once(
    fake: FakeBinance, client: AsyncClient
) -> None:
    fake.faults.timestamp_error_next()
    with pytest.raises(BinanceAPIException) as exc:
        await client.futures_account_balance()
    assert exc.value.code == -1021
    assert (await client.futures_account_balance())[0]["asset"] == "USDT"


async def test_partial_fill_with_market_order_fills_fraction_and_expires(
    fake: FakeBinance, client: AsyncClient
) -> None:
    fake.faults.partial_fill_next("0.4")
    order = await client.futures_create_order(
        symbol="SOLUSDT", side="BUY", type="MARKET", quantity="10", newOrderRespType="RESULT"
    )
    assert order["status"] == "EXPIRED" and Decimal(order["executedQty"]) == 4
    full = await client.futures_create_order(
        symbol="SOLUSDT", side="BUY", type="MARKET", quantity="10", newOrderRespType="RESULT"
    )
    assert full["status"] == "FILLED"


async def test_partial_fill_with_resting_limit_fills_part_then_rest_on_next_move(
    fake: FakeBinance, client: AsyncClient
) -> None:
    price = fake.price("SOLUSDT")
    limit = (price - 1).quantize(Decimal("0.01"))
    fake.faults.partial_fill_next("0.5")
    order = await client.futures_create_order(
        symbol="SOLUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="10",
        price=str(limit),
    )
    fake.set_price("SOLUSDT", limit - 1)
    got = await client.futures_get_order(symbol="SOLUSDT", orderId=order["orderId"])
    assert got["status"] == "PARTIALLY_FILLED" and Decimal(got["executedQty"]) == 5
    fake.set_price("SOLUSDT", limit - 2)
    got = await client.futures_get_order(symbol="SOLUSDT", orderId=order["orderId"])
    assert got["status"] == "FILLED"
