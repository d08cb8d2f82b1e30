"""The kill switch: cancel every order, close every position reduce-only, halt."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from apps.bots.models import Bot
from apps.bots.services import bot_halt
from apps.orders.models import Order
from apps.orders.services import order_apply_report
from apps.risk.models import RiskSettings
from apps.trading.engine.context import (
    _Context,
    bot_lock,
)
from apps.trading.engine.exits import _flatten
from apps.trading.models import Position
from apps.trading.venues import OPEN_STATUSES, Runner, Venue, venue_open


@dataclass(frozen=True, slots=True)
class EmergencyReport:
    bot: str
    orders_canceled: int
    positions_closed: int
    open_orders_left: int
    open_positions_left: int


def bot_emergency_close(*, bot: Bot, reason: str, now: datetime) -> EmergencyReport:
    """Kill switch for one bot: cancel every open order, close every position reduce-only at
    market, halt the bot. Runs under the bot's lock, so no cycle can place anything meanwhile."""
    with bot_lock(bot.pk):
        risk, _ = RiskSettings.objects.get_or_create(bot=bot)
        run = Runner()
        venue: Venue | None = None
        try:
            with transaction.atomic():
                venue = venue_open(bot=bot, now=now, run=run)
                ctx = _Context(bot, risk, venue, run, now)
                for symbol in bot.symbols:  # what filled since the last cycle (live venues)
                    venue.catch_up(symbol=symbol, interval=bot.strategy.timeframe, open_time=-1)
                open_before = Order.objects.filter(bot=bot, status__in=OPEN_STATUSES).count()
                positions_before = Position.objects.filter(bot=bot).exclude(quantity=0).count()
                for symbol in bot.symbols:
                    _flatten(ctx, symbol, reason)
                    run(venue.exchange.cancel_all(symbol))
                for symbol in bot.symbols:  # anything the venue still holds, we no longer want
                    for order in Order.objects.filter(
                        bot=bot, symbol=symbol, status__in=OPEN_STATUSES
                    ):
                        report = run(venue.exchange.get_order(symbol, order.client_order_id))
                        order_apply_report(order=order, report=report, at=now)
                venue.save()
                bot_halt(bot=bot, reason=f"kill switch: {reason}"[:255])
        finally:
            if venue is not None:
                venue.close()
            run.close()
    return EmergencyReport(
        bot=bot.name,
        orders_canceled=open_before
        - Order.objects.filter(bot=bot, status__in=OPEN_STATUSES).count(),
        positions_closed=positions_before,
        open_orders_left=Order.objects.filter(bot=bot, status__in=OPEN_STATUSES).count(),
        open_positions_left=Position.objects.filter(bot=bot).exclude(quantity=0).count(),
    )


def killswitch_engage(
    *, reason: str, now: datetime, bot_names: list[str] | None = None
) -> list[EmergencyReport]:
    """Emergency close of the named bots (all bots when none are named)."""
    if not reason.strip():
        raise ValueError("the kill switch needs a reason")
    bots = Bot.objects.select_related("strategy", "account").order_by("name")
    if bot_names:
        bots = bots.filter(name__in=bot_names)
        missing = sorted(set(bot_names) - set(bots.values_list("name", flat=True)))
        if missing:
            raise ValueError(f"unknown bot(s): {', '.join(missing)}")
    return [bot_emergency_close(bot=bot, reason=reason, now=now) for bot in bots]
