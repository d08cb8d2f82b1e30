"""Reads of the Telegram bot: its configuration and token, the figures its commands answer
with (the cockpit's definitions: equity = starting balance + net PnL + unrealised PnL, PnL today
= trades closed since 00:00 UTC of market time), and the notifier's work."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, DecimalField, F, Q, Sum
from django.db.models.functions import Coalesce

from apps.bots.models import Bot
from apps.exchange.models import Instrument
from apps.monitoring.models import NotificationChannel
from apps.risk.models import BreakerState
from apps.telegram.client import BotApi
from apps.telegram.domain import messages
from apps.telegram.models import Notice, TelegramBot
from apps.trading.models import Position, Trade
from apps.trading.selectors import pnl_by_bot

ZERO = Decimal(0)
_MONEY = DecimalField(max_digits=28, decimal_places=12)
_NET = F("realized_pnl") - F("fees") - F("funding")


def telegram_bot_get() -> TelegramBot | None:
    return TelegramBot.objects.filter(key="default").first()


def telegram_token(config: TelegramBot | None) -> str:
    """The bot token: the stored (encrypted) one, else ``TELEGRAM_BOT_TOKEN``; "" for none."""
    stored = str(config.token) if config is not None and config.token else ""
    return stored or str(getattr(settings, "TELEGRAM_BOT_TOKEN", "") or "")


def telegram_api(config: TelegramBot | None, *, timeout: float = 10.0) -> BotApi | None:
    """The Bot API client of an enabled bot with a token, else None."""
    if config is None or not config.enabled:
        return None
    token = telegram_token(config)
    if not token:
        return None
    return BotApi(base_url=settings.TELEGRAM_API_BASE_URL, token=token, timeout=timeout)


def channels_for_event(*, kind: str) -> list[NotificationChannel]:
    """The enabled channels that chose `kind`."""
    return [c for c in NotificationChannel.objects.filter(enabled=True) if c.wants(kind)]


def notices_due(*, now: datetime, limit: int = 50) -> list[Notice]:
    return list(
        Notice.objects.filter(done_at__isnull=True, next_attempt_at__lte=now).order_by(
            "created_at", "id"
        )[:limit]
    )


def _bots() -> list[Bot]:
    """Every bot but the replays' rehearsal copies, by name."""
    return list(Bot.objects.filter(rehearsal=False).select_related("account").order_by("name"))


def bot_by_name(name: str) -> Bot | None:
    return Bot.objects.filter(name=name, rehearsal=False).first()


def bot_names() -> list[str]:
    return [bot.name for bot in _bots()]


def _filters(symbols: set[str]) -> dict[str, tuple[Decimal, Decimal]]:
    out: dict[str, tuple[Decimal, Decimal]] = {}
    rows = Instrument.objects.filter(symbol__in=symbols).values_list(
        "symbol", "tick_size", "step_size"
    )
    for symbol, tick, step in rows:
        out.setdefault(symbol, (tick, step))
    return out


def _open_positions(bots: list[Bot]) -> list[Position]:
    return list(
        Position.objects.filter(bot__in=bots)
        .exclude(quantity=0)
        .select_related("bot")
        .order_by("bot__name", "symbol")
    )


def day_start_of(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def status_lines(*, now: datetime) -> list[messages.BotLine]:
    bots = _bots()
    pnl = pnl_by_bot(bots=bots, day_start=day_start_of(now))
    open_count: dict[int, int] = {}
    for position in _open_positions(bots):
        open_count[position.bot_id] = open_count.get(position.bot_id, 0) + 1
    tiers = dict(BreakerState.objects.filter(bot__in=bots).values_list("bot_id", "last_action"))
    return [
        messages.BotLine(
            name=bot.name,
            state=bot.state,
            reason=bot.state_reason,
            mode=bot.trading_mode,
            open_positions=open_count.get(bot.pk, 0),
            pnl_today=pnl[bot.pk].today,
            breaker=tiers.get(bot.pk, ""),
        )
        for bot in bots
    ]


def profit_lines(*, now: datetime) -> list[messages.ProfitLine]:
    bots = _bots()
    day_start = day_start_of(now)
    # closed trades only: an open trade's partial exits count once it is closed
    rows = (
        Trade.objects.filter(bot__in=bots, status=Trade.Status.CLOSED)
        .values("bot_id")
        .annotate(
            total=Coalesce(Sum(_NET, output_field=_MONEY), ZERO, output_field=_MONEY),
            today=Coalesce(
                Sum(_NET, filter=Q(exit_time__gte=day_start), output_field=_MONEY),
                ZERO,
                output_field=_MONEY,
            ),
            closed=Count("id"),
            wins=Count("id", filter=Q(realized_pnl__gt=F("fees") + F("funding"))),
        )
    )
    by_bot = {row["bot_id"]: row for row in rows}
    out = []
    for bot in bots:
        row = by_bot.get(bot.pk, {})
        out.append(
            messages.ProfitLine(
                bot=bot.name,
                closed=int(row.get("closed", 0)),
                wins=int(row.get("wins", 0)),
                net_total=Decimal(row.get("total", ZERO)),
                net_today=Decimal(row.get("today", ZERO)),
            )
        )
    return out


def balance_lines(*, now: datetime) -> list[messages.BalanceLine]:
    bots = _bots()
    pnl = pnl_by_bot(bots=bots, day_start=day_start_of(now))
    unrealized: dict[int, Decimal] = {}
    for position in _open_positions(bots):
        unrealized[position.bot_id] = unrealized.get(position.bot_id, ZERO) + (
            position.unrealized_pnl
        )
    return [
        messages.BalanceLine(
            bot=bot.name,
            account=bot.account.name,
            start=bot.account.paper_starting_balance,
            net=pnl[bot.pk].total,
            unrealized=unrealized.get(bot.pk, ZERO),
        )
        for bot in bots
    ]


def position_lines() -> list[messages.PositionLine]:
    rows = _open_positions(_bots())
    filters = _filters({p.symbol for p in rows})
    return [
        messages.PositionLine(
            bot=p.bot.name,
            symbol=p.symbol,
            side=p.side,
            quantity=p.quantity,
            entry_price=p.entry_price,
            mark_price=p.mark_price,
            unrealized=p.unrealized_pnl,
            stop_price=p.stop_price,
            tick=filters.get(p.symbol, (None, None))[0],
            step=filters.get(p.symbol, (None, None))[1],
        )
        for p in rows
    ]


def trade_view(trade: Trade, *, bot_name: str) -> messages.TradeView:
    tick, step = _filters({trade.symbol}).get(trade.symbol, (None, None))
    closed = trade.status == Trade.Status.CLOSED
    return messages.TradeView(
        bot=bot_name,
        symbol=trade.symbol,
        side=trade.side,
        quantity=trade.quantity,
        entry_price=trade.entry_price,
        exit_price=trade.exit_price if closed else None,
        net_pnl=(trade.realized_pnl - trade.fees - trade.funding) if closed else None,
        roi=trade.roi if closed else None,
        exit_reason=(trade.exit_reason or "") if closed else "",
        tick=tick,
        step=step,
    )


def day_lines(*, start: datetime) -> tuple[list[messages.DayLine], int]:
    """Per bot (with trades closed in [start, start + 1 day)): closed, won, net; and the number
    of positions open now."""
    bots = _bots()
    rows = (
        Trade.objects.filter(
            bot__in=bots,
            status=Trade.Status.CLOSED,
            exit_time__gte=start,
            exit_time__lt=start + timedelta(days=1),
        )
        .values("bot__name")
        .annotate(
            net=Coalesce(Sum(_NET, output_field=_MONEY), ZERO, output_field=_MONEY),
            closed=Count("id"),
            wins=Count("id", filter=Q(realized_pnl__gt=F("fees") + F("funding"))),
        )
        .order_by("bot__name")
    )
    lines = [
        messages.DayLine(
            bot=row["bot__name"], closed=row["closed"], wins=row["wins"], net=Decimal(row["net"])
        )
        for row in rows
    ]
    return lines, len(_open_positions(bots))
