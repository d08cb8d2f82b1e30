"""Reads for the performance monitor."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime
from decimal import Decimal

from django.db.models import F, QuerySet

from apps.bots.models import Bot
from apps.monitoring.domain.performance import ClosedTrade
from apps.monitoring.models import Alert, AlertRule, NotificationChannel
from apps.trading.models import Trade


def closed_trade_records(*, until: datetime, since: datetime | None = None) -> list[ClosedTrade]:
    """Return closed trades with ``since < exit_time <= until`` (no lower bound if `since` is
    None) as domain records keyed by bot id; net PnL is realised PnL - fees - funding."""
    trades = Trade.objects.filter(
        status=Trade.Status.CLOSED, exit_time__isnull=False, exit_time__lte=until
    )
    if since is not None:
        trades = trades.filter(exit_time__gt=since)
    rows = (
        trades.annotate(net=F("realized_pnl") - F("fees") - F("funding"))
        .order_by("exit_time", "entry_time", "id")
        .values_list("bot_id", "mode", "net", "roi", "entry_time", "exit_time")
    )
    return [
        ClosedTrade(
            bot=bot_id,
            mode=mode,
            net_pnl=Decimal(net),
            roi=roi,
            entry_time=entry_time,
            exit_time=exit_time,
        )
        for bot_id, mode, net, roi, entry_time, exit_time in rows
    ]


def bot_map(*, ids: set[Hashable]) -> dict[Hashable, Bot]:
    return {bot.pk: bot for bot in Bot.objects.filter(pk__in=ids).select_related("account")}


def starting_equity_of(*, bots: dict[Hashable, Bot]) -> tuple[dict[Hashable, Decimal], Decimal]:
    """Return each bot's starting equity (its account's starting balance) and the total over the
    distinct accounts (bots sharing an account share its equity)."""
    per_bot = {pk: bot.account.paper_starting_balance for pk, bot in bots.items()}
    accounts = {bot.account_id: bot.account.paper_starting_balance for bot in bots.values()}
    return per_bot, sum(accounts.values(), Decimal(0))


def alert_rule_for(*, bot: Bot | None) -> AlertRule:
    """Return the bot's own rule, else the default rule, else an unsaved rule with defaults."""
    if bot is not None:
        own = AlertRule.objects.filter(bot=bot).first()
        if own is not None:
            return own
    default = AlertRule.objects.filter(bot__isnull=True).first()
    return default if default is not None else AlertRule()


def alert_recent_exists(*, dedup_key: str, since: datetime) -> bool:
    return Alert.objects.filter(dedup_key=dedup_key, created_at__gt=since).exists()


def notification_channels_for(*, severity: str) -> list[NotificationChannel]:
    """Return the enabled channels whose minimum severity `severity` reaches."""
    return [c for c in NotificationChannel.objects.filter(enabled=True) if c.accepts(severity)]


def alert_list_unacknowledged() -> QuerySet[Alert]:
    return Alert.objects.filter(acknowledged_at__isnull=True).select_related("bot")
