"""Writes to bots: state changes (pause, resume, halt), each one logged and broadcast."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from apps.bots.models import Bot
from apps.events import publish_event

logger = logging.getLogger(__name__)


class BotStateError(ValueError):
    """The requested state change is not possible for this bot."""


def _set_state(*, bot: Bot, state: str, reason: str, cause: str) -> Bot:
    with transaction.atomic():
        locked = Bot.objects.select_for_update().get(pk=bot.pk)
        locked.state = state
        locked.state_reason = reason[:255]
        locked.state_cause = cause
        locked.state_changed_at = timezone.now()
        locked.restart_at = None  # a new state cancels a pending automatic restart
        fields = ["state", "state_reason", "state_cause", "state_changed_at", "restart_at"]
        fields.append("updated_at")
        locked.save(update_fields=fields)
        publish_event(
            "bot_state",
            {"bot": locked.name, "state": state, "reason": locked.state_reason, "cause": cause},
        )
    logger.info("bot %s -> %s (%s)", locked.name, state, reason or "no reason given")
    return locked


def bot_pause(*, bot: Bot, reason: str = "paused by user", cause: str = Bot.Cause.OPERATOR) -> Bot:
    return _set_state(bot=bot, state=Bot.State.PAUSED, reason=reason, cause=cause)


def bot_resume(*, bot: Bot) -> Bot:
    if not bot.enabled:
        raise BotStateError(f"bot {bot.name} is disabled; enable it before resuming")
    return _set_state(bot=bot, state=Bot.State.RUNNING, reason="", cause=Bot.Cause.NONE)


def bot_halt(*, bot: Bot, reason: str, cause: str = Bot.Cause.OPERATOR) -> Bot:
    if not reason:
        raise BotStateError("a halt needs a reason")
    return _set_state(bot=bot, state=Bot.State.HALTED, reason=reason, cause=cause)


def bot_restart_schedule(*, bot: Bot, delay_s: int, now: datetime | None = None) -> None:
    """Let the scheduler resume the (halted) bot ``delay_s`` seconds from now.

    Kept on the row, not as a delayed task: a countdown task would sit unacknowledged in a
    worker for up to an hour and be delivered again when the broker's visibility timeout ends.
    """
    at = (now or timezone.now()) + timedelta(seconds=delay_s)
    Bot.objects.filter(pk=bot.pk).update(restart_at=at)


def bot_restarts_due(*, now: datetime) -> list[Bot]:
    """Halted bots whose automatic restart time has come."""
    return list(
        Bot.objects.filter(state=Bot.State.HALTED, restart_at__isnull=False, restart_at__lte=now)
    )
