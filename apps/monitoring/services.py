"""The performance review: reports, threshold alerts and their delivery.

Windows of :func:`performance_review` (``now`` is the review time, ``period`` its last
``period_hours``):

- reports with ``window=all`` hold the figures of every closed trade with ``exit_time <= now``;
  reports with ``window=period`` those of trades with ``now - period < exit_time <= now``. Both
  are stored for all bots / all modes, all bots / each mode, each bot / all modes and each bot /
  each mode that has trades (the all-bots / all-modes pair always).
- Thresholds are judged per bot over all its modes on the ``all`` figures (drawdown is a property
  of the whole equity curve, and win rate and profit factor need ``min_trades`` to mean
  anything), and only for bots that closed a trade in the period: without new trades there is
  nothing new to report, and an old breach is not repeated every review.
- The same breach (kind) of the same bot is alerted again only after the rule's cool-down.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from datetime import datetime, timedelta
from decimal import Context, Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from apps.bots.models import Bot
from apps.events import publish_event
from apps.monitoring import notifications
from apps.monitoring.domain.performance import (
    Breach,
    PerformanceStats,
    Severity,
    evaluate_thresholds,
    stats_by_scope,
)
from apps.monitoring.models import (
    Alert,
    AlertDelivery,
    NotificationChannel,
    PerformanceReport,
)
from apps.monitoring.selectors import (
    alert_recent_exists,
    alert_rule_for,
    bot_map,
    closed_trade_records,
    notification_channels_for,
    starting_equity_of,
)

DEFAULT_PERIOD_HOURS = 6
_WIDE = Context(prec=60)
_MONEY = Decimal("1e-12")
_RATIO = Decimal("1e-8")


def _q(value: Decimal | None, exp: Decimal) -> Decimal | None:
    return None if value is None else value.quantize(exp, context=_WIDE)


def ai_utilisation(
    *, bot_id: Hashable | None, start: datetime | None, end: datetime
) -> tuple[int, Decimal | None]:
    """The AI's decisions in (start, end] (one bot, or all bots) and the share of them whose
    output was used: the seed's AI utilisation."""
    from apps.ai.models import AiDecision

    rows = AiDecision.objects.filter(at__lte=end)
    if start is not None:
        rows = rows.filter(at__gt=start)
    if bot_id is not None:
        rows = rows.filter(bot_id=bot_id)
    total = rows.count()
    if not total:
        return 0, None
    used = rows.filter(used=True).count()
    return total, _q(Decimal(used) / Decimal(total), _RATIO)


def _report_build(
    *,
    stats: PerformanceStats,
    bot: Bot | None,
    mode: str | None,
    window: str,
    period_start: datetime | None,
    now: datetime,
) -> PerformanceReport:
    return PerformanceReport(
        bot=bot,
        mode=mode or "",
        window=window,
        period_start=period_start,
        period_end=now,
        trades=stats.trades,
        wins=stats.wins,
        losses=stats.losses,
        win_rate=_q(stats.win_rate, _RATIO),
        gross_profit=_q(stats.gross_profit, _MONEY),
        gross_loss=_q(stats.gross_loss, _MONEY),
        avg_win=_q(stats.avg_win, _MONEY),
        avg_loss=_q(stats.avg_loss, _MONEY),
        profit_loss_ratio=_q(stats.profit_loss_ratio, _RATIO),
        profit_factor=_q(stats.profit_factor, _RATIO),
        net_pnl=_q(stats.net_pnl, _MONEY),
        expectancy=_q(stats.expectancy, _MONEY),
        total_roi=_q(stats.total_roi, _RATIO),
        avg_roi=_q(stats.avg_roi, _RATIO),
        max_drawdown=_q(stats.max_drawdown, _MONEY),
        max_drawdown_pct=_q(stats.max_drawdown_pct, _RATIO),
        starting_equity=_q(stats.starting_equity, _MONEY),
        max_consecutive_losses=stats.max_consecutive_losses,
        current_losing_streak=stats.current_losing_streak,
        avg_holding=stats.avg_holding,
        created_at=now,
    )


def _alert_payload(alert: Alert) -> dict[str, Any]:
    return {
        "event": "alert",
        "id": alert.pk,
        "severity": alert.severity,
        "kind": alert.kind,
        "bot": alert.bot.name if alert.bot_id and alert.bot else None,
        "mode": alert.mode,
        "message": alert.message,
        "data": alert.data,
        "created_at": alert.created_at.isoformat(),
    }


def alert_raise(
    *,
    breach: Breach,
    bot: Bot | None,
    mode: str = "",
    now: datetime,
    cooldown: timedelta,
    report: PerformanceReport | None = None,
    data: dict[str, Any] | None = None,
) -> Alert | None:
    """Create an alert for `breach` and publish it to dashboards after commit; return None if
    the same breach of the same bot and mode was alerted within `cooldown` before `now`."""
    dedup_key = f"{breach.kind}:{bot.pk if bot else '*'}:{mode or '*'}"
    if alert_recent_exists(dedup_key=dedup_key, since=now - cooldown):
        return None
    alert = Alert.objects.create(
        severity=breach.severity,
        kind=breach.kind,
        bot=bot,
        mode=mode,
        message=breach.message[:500],
        data={"value": breach.value, "threshold": breach.threshold, **breach.data, **(data or {})},
        dedup_key=dedup_key,
        report=report,
        created_at=now,
    )
    publish_event("alert", _alert_payload(alert))
    return alert


def performance_review(
    *, now: datetime, period_hours: int = DEFAULT_PERIOD_HOURS
) -> list[PerformanceReport]:
    """Store the reports of the review at `now`, raise alerts for breached thresholds and, after
    commit, deliver them (see the module docstring for windows). Raise ValueError for a naive
    `now` or a period that is not positive."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (UTC)")
    if period_hours <= 0:
        raise ValueError(f"period_hours must be positive, got {period_hours}")
    period_start = now - timedelta(hours=period_hours)
    all_trades = closed_trade_records(until=now)
    period_trades = [t for t in all_trades if t.exit_time > period_start]
    bots = bot_map(ids={t.bot for t in all_trades})
    per_bot_equity, total_equity = starting_equity_of(bots=bots)
    windows = {
        PerformanceReport.Window.ALL: (None, all_trades),
        PerformanceReport.Window.PERIOD: (period_start, period_trades),
    }
    built: dict[tuple[str, Hashable | None, str | None], PerformanceReport] = {}
    all_stats: dict[tuple[Hashable | None, str | None], PerformanceStats] = {}
    for window, (start, trades) in windows.items():
        scoped = stats_by_scope(
            trades, starting_equity=per_bot_equity, total_starting_equity=total_equity
        )
        if window == PerformanceReport.Window.ALL:
            all_stats = scoped
        for (bot_id, mode), stats in scoped.items():
            report = built[(window, bot_id, mode)] = _report_build(
                stats=stats,
                bot=bots.get(bot_id) if bot_id is not None else None,
                mode=mode,
                window=window,
                period_start=start,
                now=now,
            )
            if mode is None:  # per bot and for all bots (modes are a trade attribute)
                report.ai_decisions, report.ai_utilisation = ai_utilisation(
                    bot_id=bot_id, start=start, end=now
                )

    alert_ids: list[int] = []
    with transaction.atomic():
        reports = PerformanceReport.objects.bulk_create(list(built.values()))
        for bot_id in sorted({t.bot for t in period_trades}, key=str):
            bot = bots[bot_id]
            rule = alert_rule_for(bot=bot)
            if not rule.enabled:
                continue
            report = built[(PerformanceReport.Window.ALL, bot_id, None)]
            for breach in evaluate_thresholds(
                all_stats[(bot_id, None)], rule.thresholds(), label=bot.name
            ):
                alert = alert_raise(
                    breach=breach,
                    bot=bot,
                    now=now,
                    cooldown=timedelta(hours=rule.cooldown_hours),
                    report=report,
                    data={"window": "all", "period_hours": period_hours},
                )
                if alert is not None:
                    alert_ids.append(alert.pk)
        if alert_ids:
            # robust: an unexpected error while delivering is logged, never raised into the task
            transaction.on_commit(lambda: alerts_deliver(alert_ids=alert_ids, now=now), robust=True)
    return reports


def _notification_of(alert: Alert) -> notifications.Notification:
    who = alert.bot.name if alert.bot_id and alert.bot else "all bots"
    text = "\n".join(
        [
            alert.message,
            "",
            f"severity: {alert.severity}",
            f"kind: {alert.kind}",
            f"bot: {who}",
            f"at: {alert.created_at.isoformat()}",
            *(f"{key}: {value}" for key, value in sorted(alert.data.items())),
        ]
    )
    return notifications.Notification(
        subject=f"[{alert.severity}] {who}: {alert.get_kind_display()}",
        text=text,
        payload=_alert_payload(alert),
    )


def alerts_deliver(*, alert_ids: Iterable[int], now: datetime) -> list[AlertDelivery]:
    """Send each alert over every enabled channel its severity reaches, recording one delivery
    per channel; channels that already sent the alert are skipped. Never raise on a failure of
    a channel."""
    deliveries: list[AlertDelivery] = []
    alerts = Alert.objects.filter(pk__in=list(alert_ids)).select_related("bot").order_by("pk")
    for alert in alerts:
        sent = set(
            alert.deliveries.filter(status=AlertDelivery.Status.SENT).values_list(
                "channel_id", flat=True
            )
        )
        notification = _notification_of(alert)
        for channel in notification_channels_for(severity=alert.severity):
            if channel.pk in sent:
                continue
            result = notifications.send(channel=channel, notification=notification)
            deliveries.append(
                AlertDelivery.objects.create(
                    alert=alert,
                    channel=channel,
                    channel_name=channel.name,
                    status=AlertDelivery.Status.SENT if result.ok else AlertDelivery.Status.FAILED,
                    attempts=result.attempts,
                    error=result.error[:500],
                    at=now,
                )
            )
    return deliveries


def channel_send_test(
    *, channel: NotificationChannel, now: datetime
) -> notifications.DeliveryResult:
    """Send a test notification over `channel` (even if disabled); nothing is stored."""
    payload = {
        "event": "alert",
        "id": None,
        "severity": Severity.INFO,
        "kind": Alert.Kind.TEST.value,
        "bot": None,
        "mode": "",
        "message": f"Test notification from the trading platform to {channel.name}",
        "data": {},
        "created_at": now.isoformat(),
    }
    notification = notifications.Notification(
        subject=f"[test] trading platform notification to {channel.name}",
        text=str(payload["message"]),
        payload=payload,
    )
    return notifications.send(channel=channel, notification=notification)


def alerts_acknowledge(
    *, alert_ids: Iterable[int], user: AbstractBaseUser | None, now: datetime
) -> int:
    """Mark the given unacknowledged alerts acknowledged by `user`; return how many changed."""
    return Alert.objects.filter(pk__in=list(alert_ids), acknowledged_at__isnull=True).update(
        acknowledged_at=now, acknowledged_by=user
    )
