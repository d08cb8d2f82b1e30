"""Nothing stays undecided: the scheduler's sweep over signals, cycles and restarts.

Run by ``trading.schedule`` (every 2 s) beside the bots' ticks:

- an accepted webhook signal still waiting after ``SIGNAL_REDISPATCH_S`` is handed to a worker
  again (its task may have died with its worker, or be queued behind a backlog), unless its
  bot's lease is held: the holder looks for waiting signals once it releases the bot (and a
  dead holder's lease lapses within ``LEASE_SECONDS``, well before the expiry); one still
  waiting after the bot's ``max_signal_age_s`` plus ``SIGNAL_EXPIRE_GRACE_S`` can no longer
  be acted on and is closed as ``expired``, with the reason;
- a cycle left ``running`` below a candle the bot has since decided was abandoned by a dead
  worker: it is closed as failed, with the reason;
- a bot halted by a critical error is resumed once its restart time has come.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Max

from apps.bots.lease import lease_holder
from apps.bots.models import Bot
from apps.bots.services import bot_restarts_due, bot_resume
from apps.trading.engine.signals import signal_publish
from apps.trading.models import BotCycle, Signal

logger = logging.getLogger(__name__)

SIGNAL_REDISPATCH_S = 5
SIGNAL_EXPIRE_GRACE_S = 30
_DISPATCH_KEY = "signal-dispatched:"


@dataclass
class SweepReport:
    redispatched: list[int] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)
    cycles_closed: int = 0
    restarted: list[str] = field(default_factory=list)


def signal_expiry_seconds(bot: Bot | None) -> int:
    """How long an accepted signal may wait for a worker: the bot's age limit plus a grace."""
    age = settings.WEBHOOK_MAX_SIGNAL_AGE_S
    if bot is not None:
        age = int((bot.strategy.parameters or {}).get("max_signal_age_s", age))
    return age + SIGNAL_EXPIRE_GRACE_S


def signal_dispatched(signal_id: int, *, seconds: int = SIGNAL_REDISPATCH_S) -> bool:
    """Note that the signal was just handed to a worker; False if it was, moments ago."""
    return bool(cache.add(f"{_DISPATCH_KEY}{signal_id}", 1, timeout=seconds))


def _held(bot_id: int | None, held: dict[int | None, bool]) -> bool:
    """Whether the bot's lease is held now (its holder decides the bot's waiting signals)."""
    if bot_id not in held:
        held[bot_id] = bot_id is not None and lease_holder(bot_id) is not None
    return held[bot_id]


def signals_sweep(*, wall: datetime, dispatch: Callable[[int], None]) -> SweepReport:
    """Hand waiting signals to a worker again, close the ones too old to act on."""
    report = SweepReport()
    held: dict[int | None, bool] = {}  # bot -> its lease is held now (asked once per sweep)
    waiting = Signal.objects.filter(
        outcome=Signal.Outcome.ACCEPTED, received_at__lte=wall - timedelta(seconds=1)
    ).select_related("bot__strategy")
    for signal in waiting.order_by("received_at")[:500]:
        age = (wall - signal.received_at).total_seconds()
        limit = signal_expiry_seconds(signal.bot)
        if age > limit:
            detail = (
                f"expired: not acted on within {limit} s of its arrival "
                "(no worker took it, or the bot stayed busy); nothing was placed for it"
            )
            updated = Signal.objects.filter(pk=signal.pk, outcome=Signal.Outcome.ACCEPTED).update(
                outcome=Signal.Outcome.EXPIRED, detail=detail, processed_at=wall
            )
            if updated:
                report.expired.append(signal.pk)
                logger.warning("signal %s %s", signal.pk, detail)
                signal.outcome, signal.detail = Signal.Outcome.EXPIRED, detail
                signal_publish(signal)
        elif (
            age > SIGNAL_REDISPATCH_S
            and not _held(signal.bot_id, held)
            and signal_dispatched(signal.pk)
        ):
            dispatch(signal.pk)
            report.redispatched.append(signal.pk)
    return report


def cycles_sweep(*, wall: datetime) -> int:
    """Close cycles left running below a candle their bot has decided since."""
    closed = 0
    running = BotCycle.objects.filter(status=BotCycle.Status.RUNNING)
    for bot_id, symbol in running.values_list("bot_id", "symbol").distinct():
        newest = (
            BotCycle.objects.filter(bot_id=bot_id, symbol=symbol)
            .exclude(status=BotCycle.Status.RUNNING)
            .aggregate(t=Max("candle_open_time"))["t"]
        )
        if newest is None:
            continue
        closed += running.filter(bot_id=bot_id, symbol=symbol, candle_open_time__lt=newest).update(
            status=BotCycle.Status.FAILED,
            outcome="abandoned",
            detail="abandoned: its worker died before deciding it, and a later candle was "
            "decided since",
            finished_at=wall,
        )
    if closed:
        logger.warning("closed %d abandoned cycle(s)", closed)
    return closed


def restarts_sweep(*, now: datetime) -> list[str]:
    """Resume the bots halted by a critical error whose restart time has come."""
    resumed = []
    for bot in bot_restarts_due(now=now):
        if bot.state_cause != Bot.Cause.CRITICAL_ERROR or not bot.enabled:
            Bot.objects.filter(pk=bot.pk).update(restart_at=None)
            continue
        bot_resume(bot=bot)
        resumed.append(bot.name)
        logger.warning("bot %s restarted after a critical error", bot.name)
    return resumed


def sweep(*, wall: datetime, dispatch: Callable[[int], None]) -> SweepReport:
    report = signals_sweep(wall=wall, dispatch=dispatch)
    report.cycles_closed = cycles_sweep(wall=wall)
    report.restarted = restarts_sweep(now=wall)
    return report
