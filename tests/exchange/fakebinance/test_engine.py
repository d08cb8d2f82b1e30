"""Order placement, matching and filters through the real python-binance AsyncClient."""

from __future__ import annotations

from decimal import Decimal

import pytest
from binance import AsyncClient
from binance.exceptions import BinanceAPIException

from apps.exchange.domain.fees import DEFAULT_FEES
from testsupport.fakebinance import FakeBinance

pytestmark = pytest.mark.asyncio


async def _code(coro) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(BinanceAPIException) as exc:
        await coro
    return exc.value.code


async def _position(client: AsyncClient, symbol: str) -> Decimal:
    rows = await client.futures_position_information(symbol=symbol)
    return sum((Decimal(r["positionAmt"]) for r in rows), Decimal(0))


async def test_market_order_with_result_fills_and_moves_position_and_balance(
    fake: FakeBinance, client: AsyncClient
) -> None:
    before = Decimal((await client.futures_account_balance())[0]["balance"])
    ask = fake.exchange.market("BTCUSDT").book.best_ask()
    order = await client.futures_create_order(
        symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010", newOrderRespType="RESULT"
    )
    assert order["status"] == "FILLED"
    assert Decimal(order["executedQty"]) == Decimal("0.01")
    assert Decimal(order["avgPrice"]) == ask
    assert await _position(client, "BTCUSDT") == Decimal("0.01")
    after = Decimal((await client.futures_account_balance())[0]["balance"])
    assert after == before - ask * Decimal("0.01") * DEFAULT_FEES.taker
    trades = await client.futures_account_trades(symbol="BTCUSDT")
    assert len(trades) == 1 and trades[0]["maker"] is False


async def test_market_order_with_default_ack_answers_new_then_query_shows_filled(
    client: AsyncClient,
) -> None:
    ack = await client.futures_create_order(
        symbol="ETHUSDT", side="SELL", type="MARKET", quantity="0.05"
    )
    assert ack["status"] == "NEW" and ack["executedQty"] == "0.000"
    queried = await client.futures_get_order(symbol="ETHUSDT", orderId=ack["orderId"])
    assert queried["status"] == "FILLED"
    assert await _position(client, "ETHUSDT") == Decimal("-0.05")


async def test_round_trip_with_price_rise_realizes_pnl(
    fake: FakeBinance, client: AsyncClient
) -> None:
    await client.futures_create_order(symbol="SOLUSDT", side="BUY", type="MARKET", quantity="10")
    entry = fake.exchange.account.position("SOLUSDT", "BOTH").entry
    fake.set_price("SOLUSDT", entry + 5)
    await client.futures_create_order(
        symbol="SOLUSDT", side="SELL", type="MARKET", quantity="10", reduceOnly="true"
    )
    trades = await client.futures_account_trades(symbol="SOLUSDT")
    exit_price = Decimal(trades[-1]["price"])
    assert Decimal(trades[-1]["realizedPnl"]) == (exit_price - entry) * 10
    assert await _position(client, "SOLUSDT") == 0


async def test_limit_gtc_with_price_moving_through_rests_then_fills_as_maker(
    fake: FakeBinance, client: AsyncClient
) -> None:
    price = fake.price("BTCUSDT")
    limit = (price * Decimal("0.99")).quantize(Decimal("0.1"))
    order = await client.futures_create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.002",
        price=str(limit),
    )
    assert [o["orderId"] for o in await client.futures_get_open_orders()] == [order["orderId"]]
    fake.set_price("BTCUSDT", limit + 1)
    assert (await client.futures_get_order(symbol="BTCUSDT", orderId=order["orderId"]))[
        "status"
    ] == "NEW"
    fake.set_price("BTCUSDT", limit - 1)
    filled = await client.futures_get_order(symbol="BTCUSDT", orderId=order["orderId"])
    assert filled["status"] == "FILLED" and Decimal(filled["avgPrice"]) == limit
    trades = await client.futures_account_trades(symbol="BTCUSDT")
    assert trades[0]["maker"] is True
    assert Decimal(trades[0]["commission"]) == limit * Decimal("0.002") * DEFAULT_FEES.maker


async def test_replay_with_shipped_candles_fills_resting_limit(
    fake: FakeBinance, client: AsyncClient
) -> None:
    candles = fake.exchange.data.candles("BTCUSDT", "1m")
    i = next(
        j for j in range(len(candles)) if Decimal(candles.low[j]) < Decimal(candles.open[j]) - 20
    )
    start, low = candles.open_time[i], Decimal(candles.low[i])
    fake.exchange.replay("BTCUSDT", "1m", start=start - 60_000, count=1)
    limit = (low + 1).quantize(Decimal("0.1"))
    order = await client.futures_create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.002",
        price=str(limit),
    )
    fake.exchange.replay("BTCUSDT", "1m", start=start, count=1)
    got = await client.futures_get_order(symbol="BTCUSDT", orderId=order["orderId"])
    assert got["status"] == "FILLED"
    assert fake.exchange.market_time == start + 60_000


async def test_ioc_with_limit_beyond_depth_fills_available_and_expires_rest(
    fake: FakeBinance, client: AsyncClient
) -> None:
    book = fake.exchange.market("XRPUSDT").book
    ask = book.best_ask()
    top_qty = book.asks[0][1]
    order = await client.futures_create_order(
        symbol="XRPUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="IOC",
        quantity=str(top_qty + 100),
        price=str(ask),
        newOrderRespType="RESULT",
    )
    assert order["status"] == "EXPIRED"
    assert Decimal(order["executedQty"]) == top_qty


async def test_fok_with_insufficient_depth_raises_5021(
    fake: FakeBinance, client: AsyncClient
) -> None:
    ask = fake.exchange.market("XRPUSDT").book.best_ask()
    top_qty = fake.exchange.market("XRPUSDT").book.asks[0][1]
    code = await _code(
        client.futures_create_order(
            symbol="XRPUSDT",
            side="BUY",
            type="LIMIT",
            timeInForce="FOK",
            quantity=str(top_qty + 100),
            price=str(ask),
        )
    )
    assert code == -5021
    ok = await client.futures_create_order(
        symbol="XRPUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="FOK",
        quantity=str(top_qty),
        price=str(ask),
        newOrderRespType="RESULT",
    )
    assert ok["status"] == "FILLED"


async def test_gtx_with_crossing_price_raises_5022_and_rests_otherwise(
    fake: FakeBinance, client: AsyncClient
) -> None:
    book = fake.exchange.market("ETHUSDT").book
    crossing = client.futures_create_order(
        symbol="ETHUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTX",
        quantity="0.01",
        price=str(book.best_ask()),
    )
    assert await _code(crossing) == -5022
    maker = await client.futures_create_order(
        symbol="ETHUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTX",
        quantity="0.01",
        price=str(book.best_bid()),
    )
    assert maker["status"] == "NEW"


async def test_reduce_only_with_no_position_raises_2022(client: AsyncClient) -> None:
    code = await _code(
        client.futures_create_order(
            symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.001", reduceOnly="true"
        )
    )
    assert code == -2022


async def test_reduce_only_with_same_side_as_position_raises_2022(client: AsyncClient) -> None:
    await client.futures_create_order(symbol="BNBUSDT", side="BUY", type="MARKET", quantity="1")
    code = await _code(
        client.futures_create_order(
            symbol="BNBUSDT", side="BUY", type="MARKET", quantity="1", reduceOnly="true"
        )
    )
    assert code == -2022


@pytest.mark.parametrize(
    ("symbol", "quantity", "price", "expected"),
    [
        ("BTCUSDT", "0.0015", None, -1111),  # more decimals than quantityPrecision
        ("BTCUSDT", "0.010", "100000.123", -1111),  # more decimals than pricePrecision
        ("BTCUSDT", "0.010", "100000.05", -4014),  # within precision, off the 0.10 tick
        ("BTCUSDT", "0.0005", None, -1111),
        ("BTCUSDT", "0", None, -4003),
        ("BTCUSDT", "0.000", None, -4003),
        ("ETHUSDT", "0.001", None, -4164),  # about 4 USDT < 20
        ("DOGEUSDT", "10", None, -4164),
        ("FOOUSDT", "1", None, -1121),
    ],
)
async def test_order_with_bad_filters_raises_binance_code(
    client: AsyncClient, symbol: str, quantity: str, price: str | None, expected: int
) -> None:
    params = {"symbol": symbol, "side": "BUY", "quantity": quantity}
    if price:
        params.update(type="LIMIT", timeInForce="GTC", price=price)
    else:
        params.update(type="MARKET")
    assert await _code(client.futures_create_order(**params)) == expected


async def test_order_with_min_notional_below_limit_and_reduce_only_is_accepted(
    client: AsyncClient,
) -> None:
    await client.futures_create_order(symbol="ETHUSDT", side="BUY", type="MARKET", quantity="0.01")
    order = await client.futures_create_order(
        symbol="ETHUSDT",
        side="SELL",
        type="MARKET",
        quantity="0.001",
        reduceOnly="true",
        newOrderRespType="RESULT",
    )
    assert order["status"] == "FILLED"


async def test_order_with_missing_params_raises_1102(client: AsyncClient) -> None:
    assert (
        await _code(client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET"))
        == -1102
    )
    no_price = client.futures_create_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01"
    )
    assert await _code(no_price) == -1102


async def test_stop_market_with_order_endpoint_raises_4120(client: AsyncClient) -> None:
    request = client._request_futures_api(
        "post",
        "order",
        True,
        data={
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "STOP_MARKET",
            "quantity": "0.01",
            "stopPrice": "1000",
        },
    )
    assert await _code(request) == -4120


async def test_limit_with_price_outside_percent_band_raises_4016(
    fake: FakeBinance, client: AsyncClient
) -> None:
    high = (fake.price("BTCUSDT") * Decimal("1.2")).quantize(Decimal("0.1"))
    request = client.futures_create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.01",
        price=str(high),
    )
    assert await _code(request) == -4016


async def test_order_with_notional_above_margin_raises_2019(client: AsyncClient) -> None:
    request = client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="5")
    assert await _code(request) == -2019


async def test_cancel_with_client_order_id_cancels_and_query_finds_it(
    fake: FakeBinance, client: AsyncClient
) -> None:
    price = (fake.price("BTCUSDT") * Decimal("0.98")).quantize(Decimal("0.1"))
    await client.futures_create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.002",
        price=str(price),
        newClientOrderId="my-order.1",
    )
    duplicate = client.futures_create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.002",
        price=str(price),
        newClientOrderId="my-order.1",
    )
    assert await _code(duplicate) == -4116
    canceled = await client.futures_cancel_order(symbol="BTCUSDT", origClientOrderId="my-order.1")
    assert canceled["status"] == "CANCELED"
    queried = await client.futures_get_order(symbol="BTCUSDT", origClientOrderId="my-order.1")
    assert queried["status"] == "CANCELED" and queried["clientOrderId"] == "my-order.1"
    again = client.futures_cancel_order(symbol="BTCUSDT", origClientOrderId="my-order.1")
    assert await _code(again) == -2011
    missing = client.futures_get_order(symbol="BTCUSDT", origClientOrderId="nope")
    assert await _code(missing) == -2013


async def test_client_order_id_with_colon_and_slash_is_signed_over_decoded_body(
    fake: FakeBinance, client: AsyncClient
) -> None:
    low = (fake.price("BTCUSDT") * Decimal("0.98")).quantize(Decimal("0.1"))
    order = await client.futures_create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.002",
        price=str(low),
        newClientOrderId="a:b/c",
    )
    assert order["clientOrderId"] == "a:b/c"
    got = await client.futures_get_order(symbol="BTCUSDT", origClientOrderId="a:b/c")  # GET query
    assert got["orderId"] == order["orderId"]
    gone = await client.futures_cancel_order(symbol="BTCUSDT", origClientOrderId="a:b/c")  # body
    assert gone["status"] == "CANCELED"


async def test_cancel_all_with_open_orders_leaves_none(
    fake: FakeBinance, client: AsyncClient
) -> None:
    price = (fake.price("ETHUSDT") * Decimal("0.98")).quantize(Decimal("0.01"))
    for _ in range(3):
        await client.futures_create_order(
            symbol="ETHUSDT",
            side="BUY",
            type="LIMIT",
            timeInForce="GTC",
            quantity="0.01",
            price=str(price),
        )
    result = await client.futures_cancel_all_open_orders(symbol="ETHUSDT")
    assert result["code"] == 200
    assert await client.futures_get_open_orders(symbol="ETHUSDT") == []


async def test_account_settings_with_changes_are_reported(client: AsyncClient) -> None:
    assert (await client.futures_change_leverage(symbol="BTCUSDT", leverage=5))["leverage"] == 5
    await client.futures_change_margin_type(symbol="BTCUSDT", marginType="ISOLATED")
    with pytest.raises(BinanceAPIException) as exc:
        await client.futures_change_margin_type(symbol="BTCUSDT", marginType="ISOLATED")
    assert exc.value.code == -4046
    await client.futures_change_position_mode(dualSidePosition="true")
    assert (await client.futures_get_position_mode())["dualSidePosition"] is True
    one_way = client.futures_create_order(
        symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01"
    )
    assert await _code(one_way) == -4061
    account = await client.futures_account()
    btc = next(p for p in account["positions"] if p["symbol"] == "BTCUSDT")
    assert btc["leverage"] == "5" and btc["marginType"] == "isolated"
    assert btc["positionSide"] in ("LONG", "SHORT")
    v3 = await client.futures_account(version=3)
    assert v3["positions"] == [] and v3["totalWalletBalance"] == "10000.00000000"


async def test_hedge_mode_with_long_and_short_keeps_separate_positions(
    client: AsyncClient,
) -> None:
    await client.futures_change_position_mode(dualSidePosition="true")
    for side, ps in (("BUY", "LONG"), ("SELL", "SHORT")):
        await client.futures_create_order(
            symbol="ETHUSDT", side=side, positionSide=ps, type="MARKET", quantity="0.02"
        )
    rows = {r["positionSide"]: r for r in await client.futures_position_information()}
    assert rows["LONG"]["positionAmt"] == "0.020" and rows["SHORT"]["positionAmt"] == "-0.020"
    too_much = client.futures_create_order(
        symbol="ETHUSDT", side="SELL", positionSide="LONG", type="MARKET", quantity="0.03"
    )
    assert await _code(too_much) == -2022
    await client.futures_create_order(
        symbol="ETHUSDT", side="SELL", positionSide="LONG", type="MARKET", quantity="0.02"
    )
    rows = {r["positionSide"]: r for r in await client.futures_position_information()}
    assert "LONG" not in rows and rows["SHORT"]["positionAmt"] == "-0.020"


async def test_income_with_round_trip_lists_commission_and_realized_pnl(
    fake: FakeBinance, client: AsyncClient
) -> None:
    await client.futures_create_order(symbol="ETHUSDT", side="BUY", type="MARKET", quantity="0.1")
    fake.set_price("ETHUSDT", fake.price("ETHUSDT") + 10)
    await client.futures_create_order(
        symbol="ETHUSDT", side="SELL", type="MARKET", quantity="0.1", reduceOnly="true"
    )
    rows = await client.futures_income_history(symbol="ETHUSDT")
    kinds = [r["incomeType"] for r in rows]
    assert kinds == ["COMMISSION", "REALIZED_PNL", "COMMISSION"]
    trades = await client.futures_account_trades(symbol="ETHUSDT")
    assert Decimal(rows[1]["income"]) == Decimal(trades[1]["realizedPnl"])
    assert len(await client.futures_get_all_orders(symbol="ETHUSDT")) == 2


async def test_modify_with_new_price_moves_resting_order_and_fills_on_cross(
    fake: FakeBinance, client: AsyncClient
) -> None:
    price = fake.price("BTCUSDT")
    low = (price * Decimal("0.97")).quantize(Decimal("0.1"))
    order = await client.futures_create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.002",
        price=str(low),
    )
    moved = await client.futures_modify_order(
        symbol="BTCUSDT", orderId=order["orderId"], side="BUY", quantity="0.003", price=str(low + 1)
    )
    assert moved["status"] == "NEW" and moved["origQty"] == "0.003"
    assert Decimal(moved["price"]) == low + 1
    ask = fake.exchange.market("BTCUSDT").book.best_ask()
    crossed = await client.futures_modify_order(
        symbol="BTCUSDT", orderId=order["orderId"], side="BUY", quantity="0.003", price=str(ask)
    )
    assert crossed["status"] == "FILLED"
