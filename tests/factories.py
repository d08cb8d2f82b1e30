"""Factories for test records, in one place."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from apps.bots.models import Bot
from apps.exchange.models import ExchangeAccount
from apps.exchange.reference_data import MAX_LEVERAGE, exchange_info_symbols
from apps.exchange.services import instruments_sync
from apps.orders.models import Order
from apps.strategies.models import Strategy


def make_instruments() -> None:
    instruments_sync(symbols=exchange_info_symbols(), max_leverage=MAX_LEVERAGE)


def make_bot(name: str = "bot-1", **overrides: Any) -> Bot:
    make_instruments()
    account, _ = ExchangeAccount.objects.get_or_create(name="paper-test")
    strategy, _ = Strategy.objects.get_or_create(
        name="ema", defaults={"kind": "ema_cross", "mode": "SWING", "parameters": {}}
    )
    fields: dict[str, Any] = {
        "account": account,
        "strategy": strategy,
        "symbols": ["BTCUSDT"],
        "leverage": 3,
    }
    fields.update(overrides)
    return Bot.objects.create(name=name, **fields)


def make_order(bot: Bot, client_order_id: str = "t-entry-1", **overrides: Any) -> Order:
    fields: dict[str, Any] = {
        "symbol": "BTCUSDT",
        "type": Order.Type.LIMIT,
        "side": Order.Side.BUY,
        "time_in_force": Order.TimeInForce.IOC,
        "price": Decimal("60000.0"),
        "quantity": Decimal("0.010"),
    }
    fields.update(overrides)
    return Order.objects.create(bot=bot, client_order_id=client_order_id, **fields)
