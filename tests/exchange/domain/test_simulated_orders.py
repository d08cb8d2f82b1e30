"""SimulatedExchange: how each order type executes."""

from decimal import Decimal as D

import pytest

from apps.exchange.domain.errors import (
    DuplicateClientOrderIdError,
    InsufficientMarginError,
    InvalidOrderError,
    OrderNotFoundError,
    PostOnlyRejectedError,
    ReduceOnlyRejectedError,
    UnknownSymbolError,
    WouldTriggerError,
)
from apps.exchange.domain.events import OrderFilled
from apps.exchange.domain.fees import DEFAULT_FEES
from apps.exchange.domain.types import OrderBook, OrderStatus, Side, TimeInForce

from .conftest import make_exchange

SYM = "BTCUSDT"


def thin_book(*asks: tuple[str, str], bids: tuple[tuple[str, str], ...] = ()) -> OrderBook:
    return OrderBook.from_levels(
        SYM, [(D(p), D(q)) for p, q in bids], [(D(p), D(q)) for p, q in asks]
    )


async def test_market_buy_with_large_qty_walks_the_synthetic_book():
    ex, feed = make_exchange(balance="1000000")
    feed.bar("42000", "42100", "41900", "42000.0", volume="1000")
    book = await ex.get_orderbook(SYM, limit=50)
    report = await ex.place_market_order(SYM, Side.BUY, D("5"))
    trades = await ex.user_trades(SYM)
    assert report.status is OrderStatus.FILLED
    assert report.filled_qty == D("5")
    assert len(trades) > 1
    assert report.avg_price > book.best_ask
    assert max(t.price for t in trades) > book.best_ask
    assert sum(t.qty for t in trades) == D("5")


async def test_market_buy_with_real_snapshot_fills_level_by_level_with_taker_fee():
    ex, feed = make_exchange()
    feed.bar("42000", "42100", "41900", "42000.0")
    ex.set_book(SYM, thin_book(("42000.0", "1"), ("42001.0", "1"), ("42002.0", "5")))
    report = await ex.place_market_order(SYM, Side.BUY, D("0.3"))
    assert report.avg_price == D("42000.0")
    ex.set_book(SYM, thin_book(("42000.0", "0.1"), ("42001.0", "0.1"), ("42002.0", "5")))
    report = await ex.place_market_order(SYM, Side.BUY, D("0.3"))
    assert report.avg_price == D("42001.0")
    fees = [t.fee for t in await ex.user_trades(SYM)]
    assert fees[-1] == D("42002.0") * D("0.1") * DEFAULT_FEES.taker


async def test_market_order_with_consumed_book_sees_less_liquidity():
    ex, feed = make_exchange()
    feed.bar("42000", "42100", "41900", "42000.0")
    ex.set_book(SYM, thin_book(("42000.0", "0.1"), ("42005.0", "1")))
    first = await ex.place_market_order(SYM, Side.BUY, D("0.1"))
    second = await ex.place_market_order(SYM, Side.BUY, D("0.1"))
    assert first.avg_price == D("42000.0")
    assert second.avg_price == D("42005.0")


async def test_limit_gtc_with_later_candle_through_price_fills_at_limit_as_maker():
    ex, feed = make_exchange()
    feed.bar("42000", "42100", "41900", "42000.0")
    placed = await ex.place_limit_order(SYM, Side.BUY, D("0.01"), D("41800.0"))
    assert placed.status is OrderStatus.NEW
    feed.bar("42000", "42050", "41800.0", "41900")  # touches, does not trade through
    assert (await ex.get_order(SYM, placed.client_order_id)).status is OrderStatus.NEW
    feed.bar("41900", "41950", "41700", "41750")
    filled = await ex.get_order(SYM, placed.client_order_id)
    (trade,) = await ex.user_trades(SYM)
    assert filled.status is OrderStatus.FILLED
    assert filled.avg_price == D("41800.0")
    assert trade.is_maker
    assert trade.fee == D("41800.0") * D("0.01") * DEFAULT_FEES.maker
    assert await ex.open_orders(SYM) == []


async def test_limit_ioc_with_thin_book_fills_part_and_expires_the_rest():
    ex, feed = make_exchange()
    feed.bar("42000", "42100", "41900", "42000.0")
    ex.set_book(SYM, thin_book(("42000.0", "0.05"), ("42010.0", "1")))
    report = await ex.place_limit_order(
        SYM, Side.BUY, D("0.1"), D("42005.0"), time_in_force=TimeInForce.IOC
    )
    assert report.status is OrderStatus.EXPIRED
    assert report.filled_qty == D("0.05")
    assert await ex.open_orders(SYM) == []


async def test_limit_fok_with_insufficient_depth_fills_nothing():
    ex, feed = make_exchange()
    feed.bar("42000", "42100", "41900", "42000.0")
    ex.set_book(SYM, thin_book(("42000.0", "0.05"), ("42010.0", "1")))
    missed = await ex.place_limit_order(
        SYM, Side.BUY, D("0.1"), D("42005.0"), time_in_force=TimeInForce.FOK
    )
    whole = await ex.place_limit_order(
        SYM, Side.BUY, D("0.05"), D("42005.0"), time_in_force=TimeInForce.FOK
    )
    assert (missed.status, missed.filled_qty) == (OrderStatus.EXPIRED, D(0))
    assert (whole.status, whole.filled_qty) == (OrderStatus.FILLED, D("0.05"))


async def test_limit_gtx_with_crossing_price_is_rejected_post_only():
    ex, feed = make_exchange()
    feed.bar("42000", "42100", "41900", "42000.0")
    book = await ex.get_orderbook(SYM)
    with pytest.raises(PostOnlyRejectedError):
        await ex.place_limit_order(
            SYM, Side.BUY, D("0.01"), book.best_ask, time_in_force="GTX", client_order_id="gtx-1"
        )
    with pytest.raises(OrderNotFoundError):
        await ex.get_order(SYM, "gtx-1")
    resting = await ex.place_limit_order(
        SYM, Side.BUY, D("0.01"), book.best_bid, time_in_force=TimeInForce.GTX
    )
    assert resting.status is OrderStatus.NEW


async def test_stop_market_with_candle_through_trigger_fills_at_trigger_or_worse():
    ex, feed = make_exchange()
    feed.bar("42000", "42100", "41900", "42000.0")
    await ex.place_market_order(SYM, Side.BUY, D("0.1"))
    stop = await ex.place_stop_market_order(SYM, Side.SELL, D("0.1"), D("41500.0"), True)
    assert stop.status is OrderStatus.NEW and stop.algo_id is not None
    feed.bar("42000", "42100", "41400", "41800")
    done = await ex.get_order(SYM, stop.client_order_id)
    assert done.status is OrderStatus.FILLED
    assert D("41400") <= done.avg_price <= D("41500.0")
    assert await ex.positions(SYM) == []


async def test_stop_market_with_gap_below_trigger_fills_at_the_open():
    ex, feed = make_exchange()
    feed.bar("42000", "42100", "41900", "42000.0")
    await ex.place_market_order(SYM, Side.BUY, D("0.1"))
    stop = await ex.place_stop_market_order(SYM, Side.SELL, D("0.1"), D("41500.0"), True)
    feed.bar("41000", "41200", "40900", "41100")  # opens far below the stop
    done = await ex.get_order(SYM, stop.client_order_id)
    assert done.status is OrderStatus.FILLED
    assert D("40990") <= done.avg_price <= D("41000")


async def test_stop_market_with_trigger_already_crossed_raises_would_trigger():
    ex, feed = make_exchange()
    feed.bar("42000", "42100", "41900", "42000.0")
    await ex.place_market_order(SYM, Side.BUY, D("0.1"))
    with pytest.raises(WouldTriggerError):
        await ex.place_stop_market_order(SYM, Side.SELL, D("0.1"), D("42100.0"), True)


async def test_take_profit_with_rise_to_trigger_closes_long():
    ex, feed = make_exchange()
    feed.bar("42000", "42100", "41900", "42000.0")
    await ex.place_market_order(SYM, Side.BUY, D("0.1"))
    tp = await ex.place_take_profit_market_order(
        SYM, Side.SELL, None, D("42500.0"), close_position=True
    )
    feed.bar("42000", "42600", "41950", "42550")
    done = await ex.get_order(SYM, tp.client_order_id)
    assert done.status is OrderStatus.FILLED
    assert done.filled_qty == D("0.1")
    assert await ex.positions(SYM) == []


async def test_trailing_stop_with_rising_then_falling_price_ratchets_and_triggers():
    ex, feed = make_exchange()
    feed.bar("42000", "42100", "41900", "42000.0")
    await ex.place_market_order(SYM, Side.BUY, D("0.1"))
    trail = await ex.place_trailing_stop_order(SYM, Side.SELL, D("0.1"), D("1"))
    feed.bar("42000", "43000", "41990", "42900")  # new high 43000: level 42570
    assert (await ex.get_order(SYM, trail.client_order_id)).status is OrderStatus.NEW
    feed.bar("42900", "42950", "42500", "42600")  # falls through 42570
    done = await ex.get_order(SYM, trail.client_order_id)
    assert done.status is OrderStatus.FILLED
    assert D("42500") < done.avg_price <= D("42570")  # far above the unratcheted 41580


async def test_trailing_stop_with_activation_price_waits_for_it():
    ex, feed = make_exchange()
    feed.bar("42000", "42100", "41900", "42000.0")
    await ex.place_market_order(SYM, Side.BUY, D("0.1"))
    trail = await ex.place_trailing_stop_order(
        SYM, Side.SELL, D("0.1"), D("1"), activation_price=D("43500.0")
    )
    feed.bar("42000", "43000", "41990", "42500")  # a 1 % pullback, but not activated
    assert (await ex.get_order(SYM, trail.client_order_id)).status is OrderStatus.NEW
    feed.bar("42500", "44000", "42400", "43300")  # activates at 44000, falls below 43560
    done = await ex.get_order(SYM, trail.client_order_id)
    assert done.status is OrderStatus.FILLED
    assert D("43300") < done.avg_price <= D("43560")


async def test_reduce_only_with_no_position_is_rejected():
    ex, feed = make_exchange()
    feed.bar("42000", "42100", "41900", "42000.0")
    with pytest.raises(ReduceOnlyRejectedError):
        await ex.place_market_order(SYM, Side.SELL, D("0.1"), reduce_only=True)
    await ex.place_market_order(SYM, Side.BUY, D("0.1"))
    with pytest.raises(ReduceOnlyRejectedError):
        await ex.place_limit_order(SYM, Side.BUY, D("0.1"), D("41000.0"), reduce_only=True)


async def test_reduce_only_with_qty_above_position_is_cut_to_the_position():
    ex, feed = make_exchange()
    feed.bar("42000", "42100", "41900", "42000.0")
    await ex.place_market_order(SYM, Side.BUY, D("0.1"))
    report = await ex.place_market_order(SYM, Side.SELL, D("0.5"), reduce_only=True)
    assert report.filled_qty == D("0.1")
    assert await ex.positions(SYM) == []


async def test_place_order_with_duplicate_client_id_is_rejected():
    ex, feed = make_exchange()
    feed.bar("42000", "42100", "41900", "42000.0")
    await ex.place_limit_order(SYM, Side.BUY, D("0.01"), D("41000.0"), client_order_id="bot1-a")
    with pytest.raises(DuplicateClientOrderIdError):
        await ex.place_limit_order(SYM, Side.BUY, D("0.01"), D("41000.0"), client_order_id="bot1-a")
    await ex.cancel_order(SYM, "bot1-a")
    with pytest.raises(DuplicateClientOrderIdError):
        await ex.place_market_order(SYM, Side.BUY, D("0.01"), client_order_id="bot1-a")
    assert len(await ex.user_trades(SYM)) == 0


async def test_market_order_with_too_little_margin_is_rejected():
    ex, feed = make_exchange(balance="1000")
    feed.bar("42000", "42100", "41900", "42000.0")
    with pytest.raises(InsufficientMarginError):
        await ex.place_market_order(SYM, Side.BUY, D("1"))  # needs 2100 at 20x
    assert await ex.positions() == []


async def test_open_limit_orders_with_reserved_margin_reduce_available_balance():
    ex, feed = make_exchange(balance="1000")
    feed.bar("42000", "42100", "41900", "42000.0")
    await ex.place_limit_order(SYM, Side.BUY, D("0.4"), D("41000.0"))  # reserves 820
    (balance,) = await ex.balances()
    assert balance.available_balance == D("1000") - D("0.4") * D("41000.0") / 20
    with pytest.raises(InsufficientMarginError):
        await ex.place_limit_order(SYM, Side.BUY, D("0.4"), D("41000.0"))


async def test_cancel_all_with_regular_and_conditional_orders_empties_open_orders():
    ex, feed = make_exchange()
    feed.bar("42000", "42100", "41900", "42000.0")
    await ex.place_market_order(SYM, Side.BUY, D("0.1"))
    await ex.place_limit_order(SYM, Side.BUY, D("0.01"), D("41000.0"))
    await ex.place_stop_market_order(SYM, Side.SELL, D("0.1"), D("41000.0"), True)
    assert len(await ex.open_orders(SYM)) == 2
    await ex.cancel_all(SYM)
    assert await ex.open_orders(SYM) == []


async def test_events_with_subscriber_receive_fills_in_order():
    ex, feed = make_exchange()
    seen = []
    ex.subscribe(seen.append)
    feed.bar("42000", "42100", "41900", "42000.0")
    await ex.place_market_order(SYM, Side.BUY, D("0.1"))
    fills = [e for e in seen if isinstance(e, OrderFilled)]
    assert fills and fills[-1].order.status is OrderStatus.FILLED
    assert seen == ex.events


async def test_trailing_stop_with_callback_rate_out_of_range_is_rejected():
    ex, feed = make_exchange()
    feed.bar("42000", "42100", "41900", "42000.0")
    await ex.place_market_order(SYM, Side.BUY, D("0.1"))
    with pytest.raises(InvalidOrderError, match="callback rate"):
        await ex.place_trailing_stop_order(SYM, Side.SELL, D("0.1"), D("0.05"))
    with pytest.raises(InvalidOrderError, match="callback rate"):
        await ex.place_trailing_stop_order(SYM, Side.SELL, D("0.1"), D("25"))


async def test_place_order_with_unknown_symbol_raises_unknown_symbol():
    ex, feed = make_exchange()
    feed.bar("42000", "42100", "41900", "42000.0")
    with pytest.raises(UnknownSymbolError):
        await ex.place_market_order("NOPEUSDT", Side.BUY, D("0.1"))


async def test_short_stop_with_gap_up_fills_at_the_open_or_worse():
    ex, feed = make_exchange()
    feed.bar("42000", "42100", "41900", "42000.0")
    await ex.place_market_order(SYM, Side.SELL, D("0.1"))
    stop = await ex.place_stop_market_order(SYM, Side.BUY, None, D("42500.0"), close_position=True)
    feed.bar("43000", "43100", "42900", "43050")
    done = await ex.get_order(SYM, stop.client_order_id)
    assert done.status is OrderStatus.FILLED
    assert D("43000") <= done.avg_price <= D("43010")
    assert await ex.positions(SYM) == []


async def test_stop_market_with_candle_low_exactly_at_trigger_fills():
    ex, feed = make_exchange()
    feed.bar("42000", "42100", "41900", "42000.0")
    await ex.place_market_order(SYM, Side.BUY, D("0.1"))
    stop = await ex.place_stop_market_order(SYM, Side.SELL, D("0.1"), D("41500.0"), True)
    take = await ex.place_take_profit_market_order(SYM, Side.SELL, D("0.1"), D("42600.0"), True)
    feed.bar("42000", "42599.9", "41500.1", "42100")  # one tick short of both levels
    assert (await ex.get_order(SYM, stop.client_order_id)).status is OrderStatus.NEW
    assert (await ex.get_order(SYM, take.client_order_id)).status is OrderStatus.NEW
    assert ex.last_price(SYM) == D("42100")
    feed.bar("42100", "42200", "41500.0", "41600")  # touches the stop
    assert (await ex.get_order(SYM, stop.client_order_id)).status is OrderStatus.FILLED
    assert await ex.positions(SYM) == []
