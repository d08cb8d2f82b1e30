"""Exchange tasks: thin interfaces that load by id and call one service."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.utils import timezone

from apps.bots.models import Bot
from apps.exchange.reconciliation import exchange_for_bot, reconcile_bot


@shared_task(name="exchange.reconcile_bot", time_limit=120, soft_time_limit=100)
def reconcile_bot_task(bot_id: int) -> dict[str, Any]:
    """Reconcile one bot with its exchange; return the report as a JSON-able dict.

    Runs in a sync worker: `reconcile_bot` bridges to the async exchange port itself.
    """
    bot = Bot.objects.select_related("account").get(pk=bot_id)
    report = reconcile_bot(bot=bot, exchange=exchange_for_bot(bot=bot), at=timezone.now())
    return report.as_dict()
