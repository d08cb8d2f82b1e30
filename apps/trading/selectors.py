"""Reads of trades and positions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, DecimalField, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

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


ZERO = Decimal(0)
_MONEY = DecimalField(max_digits=28, decimal_places=12)
NET_PNL = F("realized_pnl") - F("fees") - F("funding")  # a trade's net PnL


@dataclass(frozen=True, slots=True)
class BotPnl:
    total: Decimal  # every trade's net PnL so far (an open trade's partial exits included)
    today: Decimal  # trades closed since ``day_start`` (00:00 UTC of the market clock)
    closed: int  # closed trades
    wins: int  # closed trades with a net PnL above 0


def pnl_by_bot(*, bots: list[Bot], day_start: datetime) -> dict[int, BotPnl]:
    """Each bot's PnL, one query: what the cockpit, the metrics and Telegram's /status show."""
    closed = Q(status=Trade.Status.CLOSED)
    rows = (
        Trade.objects.filter(bot__in=bots)
        .values("bot_id")
        .annotate(
            total=Coalesce(Sum(NET_PNL, output_field=_MONEY), ZERO, output_field=_MONEY),
            today=Coalesce(
                Sum(NET_PNL, filter=closed & Q(exit_time__gte=day_start), output_field=_MONEY),
                ZERO,
                output_field=_MONEY,
            ),
            closed=Count("id", filter=closed),
            wins=Count("id", filter=closed & Q(realized_pnl__gt=F("fees") + F("funding"))),
        )
    )
    out = {bot.pk: BotPnl(ZERO, ZERO, 0, 0) for bot in bots}
    for row in rows:
        out[row["bot_id"]] = BotPnl(
            Decimal(row["total"]), Decimal(row["today"]), row["closed"], row["wins"]
        )
    return out
