"""Trading metrics recorded from the rows the platform writes (Django model signals), so the
trading engine, the order services and the webhook need no metrics code of their own.

- ``Order`` recorded (PENDING_NEW) and each ``OrderEvent`` (a status transition): orders by
  status, rejects by Binance code, round trip to the venue's first answer, slippage of fills;
- ``Fill``: fills and traded notional;
- ``BotCycle``: cycles by outcome and their wall time;
- ``Signal``: signals by outcome, risk blocks by rule;
- ``Bot``: halts by cause, kill switch activations, reconciliation mismatches;
- ``AiDecision``: AI latency, confidence, outcome.

A counter moves only when the transaction that wrote the row commits (``on_commit``): a rolled
back cycle counts nothing. Durations are wall time measured in this process (rows carry market
time, which a replay accelerates), so an attempt started in another process is not timed.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models.signals import post_init, post_save
from django.dispatch import receiver

from apps.ai.models import AiDecision
from apps.bots.models import Bot
from apps.metrics import registry as m
from apps.metrics.domain.labels import label
from apps.orders.models import Fill, Order, OrderEvent
from apps.trading.models import BotCycle, Signal

PENDING_NEW = Order.Status.PENDING_NEW
FINISHED_CYCLE = frozenset({BotCycle.Status.DONE, BotCycle.Status.FAILED})


class _Starts:
    """Start times (``perf_counter``) by row id, at most ``size`` (the oldest dropped)."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._at: OrderedDict[int, float] = OrderedDict()

    def start(self, key: int) -> None:
        with self._lock:
            self._at[key] = time.perf_counter()
            self._at.move_to_end(key)
            while len(self._at) > self.size:
                self._at.popitem(last=False)

    def stop(self, key: int) -> float | None:
        with self._lock:
            started = self._at.pop(key, None)
        return None if started is None else time.perf_counter() - started


_order_sent = _Starts()
_cycle_started = _Starts()
_bot_names: dict[int, str] = {}


def bot_name(bot_id: int | None) -> str:
    """The bot's name (cached; a rename is seen through the Bot receiver)."""
    if bot_id is None:
        return "none"
    name = _bot_names.get(bot_id)
    if name is None:
        name = Bot.objects.filter(pk=bot_id).values_list("name", flat=True).first() or "unknown"
        _bot_names[bot_id] = name
    return name


def _after_commit(using: str | None, record: Callable[[], None]) -> None:
    transaction.on_commit(record, using=using)


def _loaded(instance: Any, *fields: str) -> Any:
    """The fields' values as loaded, without reading a deferred one (that would query)."""
    values = tuple(instance.__dict__.get(name, _UNKNOWN) for name in fields)
    return values[0] if len(values) == 1 else values


def _changed(instance: Any, attr: str, value: Any) -> bool:
    """Whether ``value`` differs from what was loaded (unknown: deferred or never loaded)."""
    return getattr(instance, attr, _UNKNOWN) != value


_UNKNOWN = object()


# --- orders and fills ---------------------------------------------------------------------
@receiver(post_save, sender=Order, dispatch_uid="metrics-order")
def order_saved(sender: Any, instance: Order, created: bool, using: str, **_: Any) -> None:
    if not created:
        return
    _order_sent.start(instance.pk)
    labels = (bot_name(instance.bot_id), instance.symbol, instance.side, instance.type)
    status = instance.status
    _after_commit(using, lambda: m.ORDERS.labels(*labels, status).inc())


@receiver(post_save, sender=OrderEvent, dispatch_uid="metrics-order-event")
def order_event_saved(
    sender: Any, instance: OrderEvent, created: bool, using: str, **_: Any
) -> None:
    if not created:
        return
    order = instance.order
    bot = bot_name(order.bot_id)
    labels = (bot, order.symbol, order.side, order.type)
    status, previous = instance.to_status, instance.from_status
    roundtrip = _order_sent.stop(order.pk) if previous == PENDING_NEW else None
    code = label(order.reject_code)
    slippage = order.slippage_bps if status == Order.Status.FILLED else None

    def record() -> None:
        m.ORDERS.labels(*labels, status).inc()
        if roundtrip is not None:
            m.ORDER_ROUNDTRIP.labels(bot).observe(roundtrip)
        if status == Order.Status.REJECTED:
            m.ORDER_REJECTS.labels(bot, order.symbol, code).inc()
        if slippage is not None:
            m.ORDER_SLIPPAGE.labels(bot, order.symbol, order.side).observe(float(slippage))

    _after_commit(using, record)


@receiver(post_save, sender=Fill, dispatch_uid="metrics-fill")
def fill_saved(sender: Any, instance: Fill, created: bool, using: str, **_: Any) -> None:
    if not created:
        return
    order = instance.order
    bot = bot_name(order.bot_id)
    liquidity = "maker" if instance.is_maker else "taker"
    notional = float(abs(Decimal(instance.price) * Decimal(instance.quantity)))

    def record() -> None:
        m.FILLS.labels(bot, order.symbol, order.side, liquidity).inc()
        m.FILL_NOTIONAL.labels(bot, order.symbol).inc(notional)

    _after_commit(using, record)


# --- cycles, signals, bots ----------------------------------------------------------------
@receiver(post_init, sender=BotCycle, dispatch_uid="metrics-cycle-init")
def cycle_loaded(sender: Any, instance: BotCycle, **_: Any) -> None:
    instance._metrics_status = _loaded(instance, "status")


@receiver(post_save, sender=BotCycle, dispatch_uid="metrics-cycle")
def cycle_saved(
    sender: Any, instance: BotCycle, created: bool, using: str, update_fields: Any, **_: Any
) -> None:
    if created or (update_fields and "attempts" in update_fields):
        _cycle_started.start(instance.pk)
    status = instance.status
    if status in FINISHED_CYCLE and _changed(instance, "_metrics_status", status):
        bot, outcome = bot_name(instance.bot_id), label(instance.outcome)
        seconds = _cycle_started.stop(instance.pk)

        def record() -> None:
            m.CYCLES.labels(bot, outcome).inc()
            if seconds is not None:
                m.CYCLE_DURATION.labels(bot).observe(seconds)

        _after_commit(using, record)
    instance._metrics_status = status


@receiver(post_init, sender=Signal, dispatch_uid="metrics-signal-init")
def signal_loaded(sender: Any, instance: Signal, **_: Any) -> None:
    instance._metrics_outcome = _loaded(instance, "outcome")


@receiver(post_save, sender=Signal, dispatch_uid="metrics-signal")
def signal_saved(sender: Any, instance: Signal, created: bool, using: str, **_: Any) -> None:
    outcome = instance.outcome
    if created or _changed(instance, "_metrics_outcome", outcome):
        bot, source = bot_name(instance.bot_id), label(instance.source)
        rule = label(instance.blocked_by)
        blocked = outcome == Signal.Outcome.BLOCKED

        def record() -> None:
            m.SIGNALS.labels(bot, source, outcome).inc()
            if blocked:
                m.RISK_BLOCKS.labels(bot, source, rule).inc()

        _after_commit(using, record)
    instance._metrics_outcome = outcome


@receiver(post_init, sender=Bot, dispatch_uid="metrics-bot-init")
def bot_loaded(sender: Any, instance: Bot, **_: Any) -> None:
    instance._metrics_state = _loaded(instance, "state", "state_cause")


@receiver(post_save, sender=Bot, dispatch_uid="metrics-bot")
def bot_saved(sender: Any, instance: Bot, using: str, update_fields: Any, **_: Any) -> None:
    name = instance.__dict__.get("name")
    if instance.pk is not None and name:
        _bot_names[instance.pk] = name
    state = _loaded(instance, "state", "state_cause")
    if _UNKNOWN in state:  # a save of other fields of a partly loaded row
        return
    # A state service saves ``state_changed_at``: every halt it makes counts (a second kill
    # switch on a halted bot too); any other save counts only a change.
    acted = bool(update_fields) and "state_changed_at" in update_fields
    if state[0] == Bot.State.HALTED and (acted or _changed(instance, "_metrics_state", state)):
        bot, cause = bot_name(instance.pk), label(state[1])

        def record() -> None:
            m.BOT_HALTS.labels(bot, cause).inc()
            if cause == Bot.Cause.KILL_SWITCH:
                m.KILL_SWITCH.labels(bot).inc()
            elif cause == Bot.Cause.RECONCILIATION:
                m.RECONCILIATION_MISMATCHES.labels(bot).inc()

        _after_commit(using, record)
    instance._metrics_state = state


# --- AI ---------------------------------------------------------------------------------------
@receiver(post_save, sender=AiDecision, dispatch_uid="metrics-ai-decision")
def ai_decision_saved(
    sender: Any, instance: AiDecision, created: bool, using: str, **_: Any
) -> None:
    if not created:
        return
    bot, role = bot_name(instance.bot_id), label(instance.role)
    outcome = label(instance.outcome)
    seconds, confidence = instance.latency_ms / 1000.0, float(instance.confidence)

    def record() -> None:
        m.AI_DECISIONS.labels(bot, role, outcome).inc()
        m.AI_LATENCY.labels(bot, role).observe(seconds)
        m.AI_CONFIDENCE.labels(bot, role).observe(confidence)

    _after_commit(using, record)
