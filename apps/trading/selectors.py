"""Reads of trades and positions."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import QuerySet, Sum

from apps.bots.models import Bot
from apps.exchange.models import ExchangeAccount
from apps.trading.models import Position, Trade


def trade_get_open(*, bot: Bot, symbol: str) -> Trade | None:
    """Return the bot's open trade in `symbol` (the most recent if, wrongly, several are)."""
    return (
        Trade.objects.filter(bot=bot, symbol=symbol, status=Trade.Status.OPEN)
        .order_by("-entry_time", "-id")
        .first()
    )


def position_get(*, bot: Bot, symbol: str) -> Position | None:
    return Position.objects.filter(bot=bot, symbol=symbol).first()


def position_list_open(*, bot: Bot) -> QuerySet[Position]:
    return Position.objects.filter(bot=bot).exclude(quantity=0).order_by("symbol")


def position_quantity_of_account(*, account: ExchangeAccount, symbol: str) -> Decimal:
    """Return the signed quantity all bots of `account` hold in `symbol` (the venue nets them)."""
    total = Position.objects.filter(bot__account=account, symbol=symbol).aggregate(
        qty=Sum("quantity")
    )["qty"]
    return total or Decimal(0)
