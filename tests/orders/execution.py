"""Helpers for execution tests: a SimulatedExchange near the real clock, and a tiny driver that
records an order, sends it to the simulator and applies what came back through the services."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from apps.bots.models import Bot
from apps.exchange.domain.events import OrderFilled
from apps.exchange.domain.simulated import SimulatedExchange
from apps.exchange.domain.types import Fill as VenueFill
from apps.exchange.domain.types import OrderReport, OrderRequest, OrderType, Side
from apps.orders.domain.accounting import bot_client_order_id
from apps.orders.models import Order
from apps.orders.services import order_apply_report, order_create
from apps.trading.bookkeeping import fill_apply
from tests.exchange.domain.conftest import Feeder, make_exchange

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def make_sim(price: str = "60000") -> tuple[SimulatedExchange, Feeder]:
    """A simulator whose clock starts at the current hour, with one candle closed at `price`."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    exchange, feeder = make_exchange(start=start)
    run(exchange.set_leverage("BTCUSDT", 3))
    feeder.bar(price, price, price, price, volume=1000)
    return exchange, feeder


def fills_of(exchange: SimulatedExchange, client_order_id: str) -> list[VenueFill]:
    return [
        e.fill
        for e in exchange.events
        if isinstance(e, OrderFilled) and e.fill.client_order_id == client_order_id
    ]


def request(
    bot: Bot,
    key: str,
    side: Side,
    qty: str,
    *,
    type: OrderType = OrderType.MARKET,
    reduce_only: bool = False,
    **extra: Any,
) -> OrderRequest:
    return OrderRequest(
        symbol="BTCUSDT",
        side=side,
        type=type,
        quantity=Decimal(qty),
        reduce_only=reduce_only,
        client_order_id=bot_client_order_id(bot.pk, "BTCUSDT", key),
        **extra,
    )


def send(
    bot: Bot,
    feeder: Feeder,
    req: OrderRequest,
    *,
    purpose: str = Order.Purpose.ENTRY,
    expected_price: Decimal | None = None,
    apply_fills: bool = True,
) -> tuple[Order, OrderReport]:
    """Record `req`, place it on the simulator, apply the report (and fills, unless told not)."""
    exchange = feeder.exchange
    order = order_create(bot=bot, request=req, purpose=purpose, expected_price=expected_price)
    report = run(exchange.place_order(req))
    order = order_apply_report(order=order, report=report, at=feeder.clock.now)
    if apply_fills:
        apply_all_fills(order, feeder)
    order.refresh_from_db()
    return order, report


def apply_all_fills(order: Order, feeder: Feeder) -> int:
    applied = 0
    for fill in fills_of(feeder.exchange, order.client_order_id):
        applied += fill_apply(order=order, fill=fill, at=feeder.clock.now) is not None
    return applied
