"""Orders through the adapter: typed rejections (never retried), algo routing, local checks."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.exchange.binance import BinanceFuturesExchange
from apps.exchange.domain import errors
from apps.exchange.domain.ids import client_order_id
from apps.exchange.domain.types import MarginType, OrderStatus, OrderType, Side, TimeInForce
from testsupport.fakebinance import FakeBinance

from .conftest import orders_with_client_id, requests_to

ORDER = ("POST", "/fapi/v1/order")
ALGO = ("POST", "/fapi/v1/algoOrder")


async def _long(exchange: BinanceFuturesExchange, qty: str = "0.002") -> Decimal:
    await exchange.place_market_order("BTCUSDT", Side.BUY, Decimal(qty))
    return (await exchange.get_ticker("BTCUSDT")).price


async def test_rejection_with_insufficient_margin_raises_2019_once(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    await exchange.set_leverage("BTCUSDT", 1)
    with pytest.raises(errors.InsufficientMarginError) as exc:
        await exchange.place_market_order("BTCUSDT", Side.BUY, Decimal("1"))
    assert exc.value.code == -2019 and "Margin is insufficient" in exc.value.message
    assert requests_to(fake, *ORDER) == 1


async def test_rejection_with_reduce_only_on_flat_raises_2022_once(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    with pytest.raises(errors.ReduceOnlyRejectedError) as exc:
        await exchange.place_market_order("BTCUSDT", Side.SELL, Decimal("0.002"), reduce_only=True)
    assert exc.value.code == -2022
    assert requests_to(fake, *ORDER) == 1
    (sent,) = [p for m, path, p in fake.requests if (m, path) == ORDER]
    assert sent["reduceOnly"] == "true"  # booleans go out as lower-case text


async def test_rejection_with_post_only_crossing_raises_5022_once(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    top = await exchange.get_book_ticker("BTCUSDT")
    with pytest.raises(errors.PostOnlyRejectedError) as exc:
        await exchange.place_limit_order(
            "BTCUSDT", Side.BUY, Decimal("0.002"), top.ask_price, TimeInForce.GTX
        )
    assert exc.value.code == -5022
    assert requests_to(fake, *ORDER) == 1


async def test_rejection_with_limit_outside_price_band_raises_percent_price_once(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    price = (await exchange.get_ticker("BTCUSDT")).price
    with pytest.raises(errors.PercentPriceError) as exc:
        await exchange.place_limit_order("BTCUSDT", Side.BUY, Decimal("0.002"), price * 2)
    assert exc.value.code == -4016
    assert requests_to(fake, *ORDER) == 1


async def test_rejection_with_stop_that_would_trigger_raises_2021_once(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    price = await _long(exchange)
    with pytest.raises(errors.WouldTriggerError) as exc:
        await exchange.place_stop_market_order(
            "BTCUSDT", Side.SELL, Decimal("0.002"), price * Decimal("1.01"), reduce_only=True
        )
    assert exc.value.code == -2021
    assert requests_to(fake, *ALGO) == 1


async def test_rejection_with_excess_precision_raises_1111_once(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    # The adapter snaps every order, so send a raw request through its transport.
    with pytest.raises(errors.PrecisionError) as exc:
        await exchange.transport.call(
            "futures_create_order",
            weight=0,
            orders=1,
            mutating=True,
            symbol="BTCUSDT",
            side="BUY",
            type="MARKET",
            quantity="0.0021234",
        )
    assert exc.value.code == -1111
    assert requests_to(fake, *ORDER) == 1


async def test_order_with_notional_below_minimum_is_refused_locally(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    with pytest.raises(errors.MinNotionalError) as exc:
        await exchange.place_market_order("ETHUSDT", Side.BUY, Decimal("0.001"))
    assert "MIN_NOTIONAL" in str(exc.value)
    assert requests_to(fake, *ORDER) == 0


async def test_order_with_off_grid_price_and_quantity_is_snapped_before_sending(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    price = (await exchange.get_ticker("BTCUSDT")).price * Decimal("0.97")
    report = await exchange.place_limit_order(
        "BTCUSDT", Side.BUY, Decimal("0.0029"), price + Decimal("0.037"), client_order_id="snap"
    )
    (sent,) = [p for m, path, p in fake.requests if (m, path) == ORDER]
    assert sent["quantity"] == "0.002" and Decimal(sent["price"]) % Decimal("0.1") == 0
    assert report.price == Decimal(sent["price"]) and report.quantity == Decimal("0.002")


async def test_conditional_orders_with_all_types_go_to_algo_api_and_are_listed(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    price = await _long(exchange, "0.004")
    sl = client_order_id("bot1", "BTCUSDT", "sl", 1)
    tp = client_order_id("bot1", "BTCUSDT", "tp", 1)
    ts = client_order_id("bot1", "BTCUSDT", "trail", 1)
    await exchange.place_stop_market_order(
        "BTCUSDT",
        Side.SELL,
        Decimal("0.002"),
        price * Decimal("0.95"),
        reduce_only=True,
        client_order_id=sl,
    )
    await exchange.place_take_profit_market_order(
        "BTCUSDT",
        Side.SELL,
        None,
        price * Decimal("1.05"),
        close_position=True,
        client_order_id=tp,
    )
    trail = await exchange.place_trailing_stop_order(
        "BTCUSDT",
        Side.SELL,
        Decimal("0.002"),
        Decimal("1.5"),
        price * Decimal("1.02"),
        reduce_only=True,
        client_order_id=ts,
    )
    assert trail.algo_id is not None and trail.status is OrderStatus.NEW
    assert trail.callback_rate == Decimal("1.5") and trail.activation_price is not None
    assert requests_to(fake, *ALGO) == 3 and requests_to(fake, *ORDER) == 1
    sent = {p["clientAlgoId"]: p for m, path, p in fake.requests if (m, path) == ALGO}
    assert set(sent) == {sl, tp, ts}
    assert sent[ts]["activatePrice"] and "activationPrice" not in sent[ts]
    assert sent[tp]["closePosition"] == "true" and "quantity" not in sent[tp]
    assert sent[sl]["triggerPrice"] and sent[sl]["algoType"] == "CONDITIONAL"
    listed = {o.client_order_id: o for o in await exchange.open_orders("BTCUSDT")}
    assert set(listed) == {sl, tp, ts}
    assert listed[tp].close_position and listed[sl].type is OrderType.STOP_MARKET
    canceled = await exchange.cancel_order("BTCUSDT", ts)
    assert canceled.status is OrderStatus.CANCELED
    assert requests_to(fake, "DELETE", "/fapi/v1/algoOrder") == 1


async def test_triggered_stop_with_get_order_reports_fill_of_created_order(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    price = await _long(exchange)
    stop = price * Decimal("0.98")
    await exchange.place_stop_market_order(
        "BTCUSDT", Side.SELL, Decimal("0.002"), stop, reduce_only=True, client_order_id="sl-x"
    )
    fake.set_price("BTCUSDT", stop - 50)
    done = await exchange.get_order("BTCUSDT", "sl-x")
    assert done.status is OrderStatus.FILLED and done.filled_qty == Decimal("0.002")
    assert done.algo_id is not None and done.order_id is not None


async def test_settings_with_no_change_needed_are_success(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    await exchange.set_margin_type("BTCUSDT", MarginType.CROSSED)  # -4046 from the fake
    await exchange.set_position_mode(False)  # -4059 from the fake
    await exchange.set_margin_type("BTCUSDT", MarginType.ISOLATED)
    assert fake.exchange.account.margin_type["BTCUSDT"] == "isolated"
    await exchange.set_position_mode(True)
    assert fake.exchange.account.dual_side is True


async def test_same_intent_with_retried_task_places_one_order(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    cid = client_order_id("bot7", "BTCUSDT", "entry", 42)
    price = (await exchange.get_ticker("BTCUSDT")).price * Decimal("0.97")
    await exchange.place_limit_order(
        "BTCUSDT", Side.BUY, Decimal("0.002"), price, client_order_id=cid
    )
    with pytest.raises(errors.DuplicateClientOrderIdError):
        await exchange.place_limit_order(
            "BTCUSDT", Side.BUY, Decimal("0.002"), price, client_order_id=cid
        )
    assert len(orders_with_client_id(fake, cid)) == 1
    assert (await exchange.get_order("BTCUSDT", cid)).status is OrderStatus.NEW
