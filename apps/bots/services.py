"""Writes to bots: state changes (pause, resume, halt), each one logged and broadcast."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from apps.bots.models import Bot
from apps.dashboard.events import publish_event

logger = logging.getLogger(__name__)


class BotStateError(ValueError):
    """The requested state change is not possible for this bot."""


def _set_state(*, bot: Bot, state: str, reason: str) -> Bot:
    with transaction.atomic():
        locked = Bot.objects.select_for_update().get(pk=bot.pk)
        locked.state = state
        locked.state_reason = reason[:255]
        locked.state_changed_at = timezone.now()
        locked.save(update_fields=["state", "state_reason", "state_changed_at", "updated_at"])
        publish_event(
            "bot_state", {"bot": locked.name, "state": state, "reason": locked.state_reason}
        )
    logger.info("bot %s -> %s (%s)", locked.name, state, reason or "no reason given")
    return locked


def bot_pause(*, bot: Bot, reason: str = "paused by user") -> Bot:
    return _set_state(bot=bot, state=Bot.State.PAUSED, reason=reason)


def bot_resume(*, bot: Bot) -> Bot:
    if not bot.enabled:
        raise BotStateError(f"bot {bot.name} is disabled; enable it before resuming")
    return _set_state(bot=bot, state=Bot.State.RUNNING, reason="")


def bot_halt(*, bot: Bot, reason: str) -> Bot:
    if not reason:
        raise BotStateError("a halt needs a reason")
    return _set_state(bot=bot, state=Bot.State.HALTED, reason=reason)
