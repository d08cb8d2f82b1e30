"""Reads of orders and fills."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import DecimalField, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from apps.bots.models import Bot
from apps.orders.domain.adoption import is_liquidation_id, liquidation_client_id
from apps.orders.domain.state import TERMINAL
from apps.orders.models import Fill, Order

_TERMINAL = [s.value for s in TERMINAL]


def order_list_open(*, bot: Bot, symbol: str | None = None) -> QuerySet[Order]:
    """Return the bot's orders that are not in a terminal state, oldest first."""
    qs = Order.objects.filter(bot=bot).exclude(status__in=_TERMINAL)
    if symbol is not None:
        qs = qs.filter(symbol=symbol)
    return qs.order_by("created_at", "id")


def order_list_missing_fills(*, bot: Bot) -> QuerySet[Order]:
    """Return the bot's orders whose filled quantity exceeds the quantity of their fill rows."""
    zero = Value(Decimal(0), output_field=DecimalField(max_digits=28, decimal_places=12))
    return (
        Order.objects.filter(bot=bot, filled_quantity__gt=0)
        .annotate(filled_by_rows=Coalesce(Sum("fills__quantity"), zero))
        .filter(filled_quantity__gt=F("filled_by_rows"))
        .order_by("created_at", "id")
    )


def order_get_by_client_id(*, client_order_id: str) -> Order | None:
    return Order.objects.filter(client_order_id=client_order_id).first()


def order_find_for_fill(
    *, bot: Bot, symbol: str, client_order_id: str = "", exchange_order_id: str = ""
) -> Order | None:
    """Return the bot's order a venue fill belongs to, by client id or else exchange order id."""
    if not client_order_id and not exchange_order_id:
        return None
    match = Q()
    if client_order_id:
        match |= Q(client_order_id=client_order_id)
        if is_liquidation_id(client_order_id):
            match |= Q(client_order_id=liquidation_client_id(f"b{bot.pk}", client_order_id))
    if exchange_order_id:
        match |= Q(exchange_order_id=exchange_order_id)
    return Order.objects.filter(match, bot=bot, symbol=symbol).order_by("id").first()


def fill_totals_of_trade(*, trade_id: int, side: str) -> tuple[Decimal, Decimal]:
    """Return the quantity and the notional (price x quantity) of the trade's fills on ``side``
    so far (BUY / SELL): a trade's exit fills, from which its average exit price is kept."""
    notional = F("price") * F("quantity")
    totals = Fill.objects.filter(trade_id=trade_id, order__side=side).aggregate(
        qty=Sum("quantity"),
        notional=Sum(notional, output_field=DecimalField(max_digits=40, decimal_places=24)),
    )
    return totals["qty"] or Decimal(0), totals["notional"] or Decimal(0)
