"""Model changes that become notices: where the platform's events are raised today.

The event bus (``apps.events.publish_event``) reaches the dashboards over the channel layer,
which drops what nobody reads; notifications must survive a restart, so they are taken from
the rows that change, in the same transaction:

- ``Trade`` created open -> trade opened; a trade saved ``CLOSED`` -> trade closed (once per trade);
- ``Bot`` saved with a new ``state`` (only ``apps.bots.services`` writes it) -> by its cause:
  kill switch, circuit breaker, reconciliation, a platform halt or pause (errors), or an
  operator's pause or resume;
- ``BreakerState.last_action`` changed -> the circuit breaker's new tier;
- two critical alerts that exist only as ``alert`` events on the bus (``apps.events``; its
  ``event_published`` reaches this module in the publisher's transaction): a stop-loss the
  reconciliation re-placed and the venue rejected -> ``stop_rejected``; an exit order of an
  ended trade filled -> ``ended_trade_fill`` (``apps.telegram.domain.alerts`` reads them).

Replay copies (``Bot.rehearsal``) tell nobody. Performance alerts keep their own delivery
(``apps.monitoring.services.alerts_deliver``), which honours each channel's event choice.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db.models.signals import post_init, post_save
from django.dispatch import receiver
from django.utils import timezone

from apps.bots.models import Bot
from apps.events import event_published
from apps.monitoring.models import NotificationEvent as Event
from apps.risk.models import BreakerState
from apps.telegram.domain import alerts, messages
from apps.telegram.selectors import channels_for_event, trade_view
from apps.telegram.services import notice_record
from apps.trading.models import Trade

logger = logging.getLogger(__name__)

_CAUSE_EVENT = {
    Bot.Cause.KILL_SWITCH: (Event.KILL_SWITCH, "KILL SWITCH"),
    Bot.Cause.CIRCUIT_BREAKER: (Event.BREAKER, "Circuit breaker"),
    Bot.Cause.RECONCILIATION: (Event.RECONCILIATION, "Reconciliation problem"),
    Bot.Cause.CRITICAL_ERROR: (Event.HALT, "Critical error"),
    Bot.Cause.STRATEGY_ERROR: (Event.HALT, "Strategy error"),
    Bot.Cause.AI_MODEL: (Event.HALT, "AI model problem"),
    Bot.Cause.OPERATOR: (Event.OPERATOR, "Operator"),
    Bot.Cause.NONE: (Event.OPERATOR, "Operator"),
}


def _rehearsal(bot_id: int, instance: Any) -> bool:
    cached = instance._state.fields_cache.get("bot")
    if cached is not None:
        return bool(cached.rehearsal)
    return bool(Bot.objects.filter(pk=bot_id, rehearsal=True).exists())


def _bot_name(bot_id: int, instance: Any) -> str:
    cached = instance._state.fields_cache.get("bot")
    if cached is not None:
        return str(cached.name)
    return str(Bot.objects.filter(pk=bot_id).values_list("name", flat=True).first() or bot_id)


@receiver(post_save, sender=Trade, dispatch_uid="telegram-trade-notices")
def _trade_saved(sender: Any, instance: Trade, created: bool, **kwargs: Any) -> None:
    closed = instance.status == Trade.Status.CLOSED
    if not (created or closed) or kwargs.get("raw"):
        return
    kind = Event.TRADE_CLOSED if closed else Event.TRADE_OPENED
    if not channels_for_event(kind=kind) or _rehearsal(instance.bot_id, instance):
        return  # nobody listens: no further reads inside the trading transaction
    name = _bot_name(instance.bot_id, instance)
    view = trade_view(instance, bot_name=name)
    payload = {
        "trade": instance.pk,
        "symbol": instance.symbol,
        "side": instance.side,
        "quantity": str(instance.quantity),
        "entry_price": str(instance.entry_price),
    }
    now = timezone.now()
    if created and not closed:
        notice_record(
            kind=Event.TRADE_OPENED,
            subject=f"{name}: trade opened {instance.symbol}",
            text=messages.trade_opened(view),
            dedup_key=f"trade_opened:{instance.pk}",
            bot_name=name,
            payload=payload,
            now=now,
        )
    if closed:
        payload |= {
            "exit_price": str(instance.exit_price),
            "net_pnl": str(view.net_pnl),
            "roi": str(instance.roi),
            "exit_reason": instance.exit_reason,
        }
        notice_record(
            kind=Event.TRADE_CLOSED,
            subject=f"{name}: trade closed {instance.symbol}",
            text=messages.trade_closed(view),
            dedup_key=f"trade_closed:{instance.pk}",
            bot_name=name,
            payload=payload,
            now=now,
        )


@receiver(post_save, sender=Bot, dispatch_uid="telegram-bot-state-notices")
def _bot_saved(sender: Any, instance: Bot, created: bool, **kwargs: Any) -> None:
    fields = kwargs.get("update_fields")
    if created or not fields or "state" not in fields or instance.rehearsal:
        return
    if instance.state_cause == Bot.Cause.REPLAY:
        return
    kind, headline = _CAUSE_EVENT.get(instance.state_cause, (Event.HALT, "Bot"))
    state = instance.state
    changed = instance.state_changed_at or timezone.now()
    notice_record(
        kind=kind,
        subject=f"{instance.name}: {headline.lower()}, {state}",
        text=messages.bot_state(
            bot=instance.name,
            state=state,
            cause=instance.get_state_cause_display() if instance.state_cause else "",
            reason=instance.state_reason,
            headline=headline,
        ),
        dedup_key=f"bot_state:{instance.pk}:{state}:{changed.isoformat()}",
        bot_name=instance.name,
        payload={"state": state, "cause": instance.state_cause, "reason": instance.state_reason},
        now=timezone.now(),
    )


@receiver(post_init, sender=BreakerState, dispatch_uid="telegram-breaker-initial")
def _breaker_loaded(sender: Any, instance: BreakerState, **kwargs: Any) -> None:
    instance._telegram_initial_action = instance.last_action  # type: ignore[attr-defined]


@receiver(post_save, sender=BreakerState, dispatch_uid="telegram-breaker-notices")
def _breaker_saved(sender: Any, instance: BreakerState, created: bool, **kwargs: Any) -> None:
    before = getattr(instance, "_telegram_initial_action", "")
    after = instance.last_action
    instance._telegram_initial_action = after  # type: ignore[attr-defined]
    if after == before or not channels_for_event(kind=Event.BREAKER):
        return
    if _rehearsal(instance.bot_id, instance):
        return
    name = _bot_name(instance.bot_id, instance)
    now = timezone.now()
    notice_record(
        kind=Event.BREAKER,
        subject=f"{name}: circuit breaker {after or 'clear'}",
        text=messages.breaker(bot=name, tier=after, reason=instance.last_reason),
        dedup_key=f"breaker:{instance.bot_id}:{after or 'clear'}:{now.isoformat()}",
        bot_name=name,
        payload={"tier": after or "clear", "reason": instance.last_reason},
        now=now,
    )


_ALERT_EVENT = {
    alerts.STOP_REJECTED: Event.STOP_REJECTED,
    alerts.ENDED_TRADE_FILL: Event.ENDED_TRADE_FILL,
}


@receiver(event_published, dispatch_uid="telegram-alert-notices")
def _event_published(sender: Any, kind: str, data: dict[str, Any], **kwargs: Any) -> None:
    if kind != "alert" or "level" not in data:  # the performance review's alerts: "severity"
        return
    bot = str(data.get("bot") or "")
    alert = alerts.platform_alert(
        bot=bot,
        level=str(data.get("level")),
        code=str(data.get("code") or ""),
        fields=data.get("fields") or {},
    )
    if alert is None:
        return
    event = _ALERT_EVENT[alert.event]
    if not channels_for_event(kind=event):
        return
    if Bot.objects.filter(name=bot, rehearsal=True).exists():
        return  # a replay's copy
    notice_record(
        kind=event,
        subject=alert.subject,
        text=alert.text,
        dedup_key=alert.dedup_key,
        bot_name=bot,
        payload={**alert.details, "message": data.get("message"), "at": data.get("at")},
        now=timezone.now(),
    )
