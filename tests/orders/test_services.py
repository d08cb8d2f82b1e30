"""Order, fill, trade and position services against the real SimulatedExchange."""

from __future__ import annotations

import logging
from dataclasses import replace
from decimal import Decimal
from unittest import mock

import pytest
from django.db import transaction

from apps.exchange.domain.events import OrderUpdated
from apps.exchange.domain.fees import DEFAULT_FEES
from apps.exchange.domain.types import OrderBook, OrderStatus, OrderType, Side
from apps.orders.domain.accounting import money
from apps.orders.models import Fill, Order, OrderEvent
from apps.orders.services import (
    OrderCreateError,
    order_apply_report,
    order_create,
)
from apps.trading.bookkeeping import fill_apply
from apps.trading.models import Position, Trade
from tests.factories import make_bot
from tests.orders.execution import (
    apply_all_fills,
    fills_of,
    make_sim,
    request,
    run,
    send,
)

pytestmark = pytest.mark.django_db

D = Decimal
ENTRY_FEE = D("0.010") * D("60000") * DEFAULT_FEES.taker  # open_long's taker fee


def book(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> OrderBook:
    return OrderBook.from_levels(
        "BTCUSDT", [(D(p), D(q)) for p, q in bids], [(D(p), D(q)) for p, q in asks]
    )


@pytest.fixture
def bot():
    return make_bot()


@pytest.fixture
def sim():
    return make_sim("60000")


def open_long(bot, feeder, qty: str = "0.010", price: str = "60000") -> Order:
    feeder.exchange.set_book("BTCUSDT", book([(str(D(price) - 10), "5")], [(price, "5")]))
    order, _ = send(bot, feeder, request(bot, "entry", Side.BUY, qty), expected_price=D(price))
    return order


def test_order_create_with_same_client_id_returns_existing_row(bot) -> None:
    req = request(bot, "entry", Side.BUY, "0.010")
    first = order_create(bot=bot, request=req, purpose=Order.Purpose.ENTRY)
    again = order_create(bot=bot, request=req, purpose=Order.Purpose.ENTRY)
    assert again.pk == first.pk
    assert first.status == "PENDING_NEW"
    assert first.client_order_id == req.client_order_id
    assert first.client_order_id.startswith(f"b{bot.pk}-")
    assert Order.objects.count() == 1


def test_order_create_with_client_id_of_another_bot_raises(bot) -> None:
    other = make_bot("bot-2")
    req = request(bot, "entry", Side.BUY, "0.010")
    order_create(bot=bot, request=req, purpose=Order.Purpose.ENTRY)
    with pytest.raises(OrderCreateError, match="belongs to bot"):
        order_create(bot=other, request=req, purpose=Order.Purpose.ENTRY)


def test_fill_apply_with_entry_fill_opens_trade_and_position(bot, sim) -> None:
    exchange, feeder = sim
    order = open_long(bot, feeder)

    trade = Trade.objects.get()
    (venue_fill,) = fills_of(exchange, order.client_order_id)
    assert trade.status == Trade.Status.OPEN
    assert trade.side == "LONG"
    assert trade.quantity == trade.remaining_quantity == D("0.010")
    assert trade.entry_price == D("60000")
    assert trade.entry_time == venue_fill.time
    assert trade.fees == venue_fill.fee == ENTRY_FEE
    assert trade.leverage == 3
    assert trade.mode == bot.strategy.mode
    position = Position.objects.get(bot=bot, symbol="BTCUSDT")
    assert (position.side, position.quantity, position.entry_price) == ("LONG", D("0.01"), 60000)
    assert order.status == "FILLED"
    assert order.trade_id == trade.pk
    assert Fill.objects.get().trade_id == trade.pk


def test_fill_apply_with_partial_then_full_exit_closes_trade_with_roi_fees_and_reason(
    bot, sim
) -> None:
    exchange, feeder = sim
    open_long(bot, feeder)
    feeder.bar("60000", "61000", "60000", "61000")
    exchange.set_book("BTCUSDT", book([("61000", "5")], [("61010", "5")]))
    send(
        bot,
        feeder,
        request(bot, "exit-1", Side.SELL, "0.004", reduce_only=True),
        purpose=Order.Purpose.EXIT,
    )

    trade = Trade.objects.get()
    assert trade.status == Trade.Status.OPEN
    assert trade.remaining_quantity == D("0.006")
    assert trade.realized_pnl == D("4")  # (61000 - 60000) x 0.004
    assert trade.exit_price == D("61000")
    assert Position.objects.get().quantity == D("0.006")

    stop_req = request(
        bot,
        "sl",
        Side.SELL,
        "0.006",
        type=OrderType.STOP_MARKET,
        reduce_only=True,
        trigger_price=D("60500"),
    )
    stop, _ = send(bot, feeder, stop_req, purpose=Order.Purpose.STOP_LOSS)
    assert stop.status == "NEW"
    feeder.bar("61000", "61000", "60000", "60100")  # falls through the stop
    order_apply_report(
        order=stop,
        report=run(exchange.get_order("BTCUSDT", stop.client_order_id)),
        at=feeder.clock.now,
    )
    apply_all_fills(stop, feeder)

    trade.refresh_from_db()
    venue_fills = [f for e in exchange.events if (f := getattr(e, "fill", None)) is not None]
    stop_fills = fills_of(exchange, stop.client_order_id)
    exits = [f for f in venue_fills if f.side is Side.SELL]
    fees = sum((f.fee for f in venue_fills), D(0))
    realized = sum((f.realized_pnl for f in venue_fills), D(0))
    exit_avg = sum((f.price * f.qty for f in exits), D(0)) / sum((f.qty for f in exits), D(0))
    assert trade.status == Trade.Status.CLOSED
    assert trade.exit_reason == Trade.ExitReason.STOP_LOSS
    assert trade.exit_time == stop_fills[-1].time
    assert trade.remaining_quantity == 0
    assert trade.quantity == D("0.010")
    assert trade.fees == fees
    assert trade.realized_pnl == realized  # the venue's ledger agrees with ours
    assert trade.exit_price == exit_avg.quantize(D("1E-12"))
    margin = D("0.010") * D("60000") / 3
    assert trade.roi == ((realized - fees) / margin * 100).quantize(D("1E-6"))
    assert trade.net_pnl == exchange.ledger.wallet - D("10000")
    position = Position.objects.get()
    assert (position.quantity, position.side, position.stop_price) == (0, "", None)
    assert Fill.objects.filter(trade=trade).count() == 2 + len(stop_fills)


def test_fill_apply_with_fill_through_zero_closes_trade_and_opens_reverse(bot, sim) -> None:
    exchange, feeder = sim
    open_long(bot, feeder)
    exchange.set_book("BTCUSDT", book([("60100", "5")], [("60110", "5")]))
    send(bot, feeder, request(bot, "flip", Side.SELL, "0.015"))

    old, new = Trade.objects.order_by("id")
    assert (old.status, old.exit_reason, old.realized_pnl) == ("CLOSED", "signal", D("1"))
    flip_fee = D("0.015") * D("60100") * DEFAULT_FEES.taker
    assert old.fees == ENTRY_FEE + money(flip_fee * 2 / 3)
    assert (new.status, new.side, new.quantity, new.entry_price) == (
        "OPEN",
        "SHORT",
        D("0.005"),
        60100,
    )
    assert new.fees == flip_fee - money(flip_fee * 2 / 3)
    position = Position.objects.get()
    assert (position.side, position.quantity, position.entry_price) == ("SHORT", D("-0.005"), 60100)


def test_fill_apply_with_duplicate_fill_changes_nothing(bot, sim) -> None:
    exchange, feeder = sim
    order = open_long(bot, feeder)
    before = (
        list(Trade.objects.values()),
        list(Position.objects.values()),
        list(Fill.objects.values()),
    )

    assert apply_all_fills(order, feeder) == 0
    (venue_fill,) = fills_of(exchange, order.client_order_id)
    assert fill_apply(order=order, fill=venue_fill, at=feeder.clock.now) is None

    after = (
        list(Trade.objects.values()),
        list(Position.objects.values()),
        list(Fill.objects.values()),
    )
    assert after == before


def test_order_apply_report_with_pending_new_to_filled_records_one_event(bot, sim) -> None:
    _, feeder = sim
    order = open_long(bot, feeder)
    assert list(OrderEvent.objects.filter(order=order).values_list("from_status", "to_status")) == [
        ("PENDING_NEW", "FILLED")
    ]
    assert order.filled_quantity == D("0.010")
    assert order.average_price == D("60000")
    assert order.exchange_order_id


def test_order_apply_report_with_stale_report_is_ignored(bot, sim, caplog) -> None:
    exchange, feeder = sim
    order = open_long(bot, feeder)
    accepted = next(
        e.order
        for e in exchange.events
        if isinstance(e, OrderUpdated) and e.order.client_order_id == order.client_order_id
    )
    assert accepted.status is OrderStatus.NEW

    with caplog.at_level(logging.INFO, logger="apps.orders.services"):
        result = order_apply_report(order=order, report=accepted, at=feeder.clock.now)

    assert result.status == "FILLED"
    assert result.filled_quantity == D("0.010")
    order.refresh_from_db()
    assert order.status == "FILLED"
    assert OrderEvent.objects.filter(order=order).count() == 1
    assert "ignored NEW report" in caplog.text


def test_order_apply_report_with_lower_filled_quantity_is_ignored(bot, sim) -> None:
    _, feeder = sim
    req = request(bot, "limit", Side.BUY, "0.010", type=OrderType.LIMIT, price=D("59000"))
    order, report = send(bot, feeder, req)
    assert order.status == "NEW"
    partly = OrderStatus.PARTIALLY_FILLED
    newer = replace(report, status=partly, filled_qty=D("0.004"), avg_price=D("59000"))
    older = replace(report, status=partly, filled_qty=D("0.002"), avg_price=D("59000"))
    order = order_apply_report(order=order, report=newer, at=feeder.clock.now)
    order = order_apply_report(order=order, report=older, at=feeder.clock.now)
    assert (order.status, order.filled_quantity) == ("PARTIALLY_FILLED", D("0.004"))


@pytest.mark.parametrize(
    ("side", "levels", "expected_avg"),
    [
        (Side.BUY, [("60000", "0.004"), ("60010", "0.004"), ("60020", "0.01")], D("60008")),
        (Side.SELL, [("60000", "0.004"), ("59990", "0.004"), ("59980", "0.01")], D("59992")),
    ],
)
def test_order_apply_report_with_market_order_walking_the_book_records_slippage(
    bot, sim, side, levels, expected_avg
) -> None:
    exchange, feeder = sim
    if side is Side.BUY:
        exchange.set_book("BTCUSDT", book([("59990", "5")], levels))
    else:
        exchange.set_book("BTCUSDT", book(levels, [("60010", "5")]))
    order, _ = send(bot, feeder, request(bot, "entry", side, "0.010"), expected_price=D("60000"))

    assert order.average_price == expected_avg
    assert order.slippage_bps == D("1.3333")  # 8 / 60000 x 10^4, worse for us either way
    assert Trade.objects.get().entry_price == expected_avg


def test_fill_apply_with_rolled_back_transaction_publishes_nothing(
    bot, sim, django_capture_on_commit_callbacks
) -> None:
    exchange, feeder = sim
    exchange.set_book("BTCUSDT", book([("59990", "5")], [("60000", "5")]))
    req = request(bot, "entry", Side.BUY, "0.010")
    order = order_create(bot=bot, request=req, purpose=Order.Purpose.ENTRY)
    run(exchange.place_order(req))
    (venue_fill,) = fills_of(exchange, order.client_order_id)

    with (
        mock.patch("apps.events._send") as send_event,
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        with pytest.raises(RuntimeError), transaction.atomic():
            fill_apply(order=order, fill=venue_fill, at=feeder.clock.now)
            raise RuntimeError("crash after the fill, before commit")
        assert callbacks == []
    send_event.assert_not_called()
    assert not Fill.objects.exists()
    assert not Trade.objects.exists()


def test_fill_apply_with_commit_publishes_events_only_after_commit(
    bot, sim, django_capture_on_commit_callbacks
) -> None:
    exchange, feeder = sim
    exchange.set_book("BTCUSDT", book([("59990", "5")], [("60000", "5")]))
    req = request(bot, "entry", Side.BUY, "0.010")
    order = order_create(bot=bot, request=req, purpose=Order.Purpose.ENTRY)
    run(exchange.place_order(req))
    (venue_fill,) = fills_of(exchange, order.client_order_id)

    with (
        mock.patch("apps.events._send") as send_event,
        django_capture_on_commit_callbacks(execute=True),
    ):
        fill_apply(order=order, fill=venue_fill, at=feeder.clock.now)
        send_event.assert_not_called()  # still inside the (test's) transaction

    kinds = [c.args[0] for c in send_event.call_args_list]
    assert kinds == ["fill", "position", "trade_opened"]
    fill_data = send_event.call_args_list[0].args[1]
    assert fill_data["client_order_id"] == order.client_order_id
    assert fill_data["price"] == "60000"


def test_fill_apply_with_hedge_mode_order_raises(bot, sim) -> None:
    exchange, feeder = sim
    order = open_long(bot, feeder)
    (venue_fill,) = fills_of(exchange, order.client_order_id)
    Order.objects.filter(pk=order.pk).update(position_side=Order.PositionSide.LONG)
    order.refresh_from_db()
    with pytest.raises(ValueError, match="hedge-mode"):
        fill_apply(order=order, fill=replace(venue_fill, trade_id=999), at=feeder.clock.now)
    assert Fill.objects.count() == 1
