"""The notification outbox on the Celery beat: e-mail, webhook and Telegram channels get their
notices even where no ``telegrambot`` worker runs (scale-out without Telegram). The worker's own
notifier loop only makes delivery quicker; a notice is claimed before it is sent, so the two never
send one twice."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.utils import timezone


@shared_task(name="notifications.deliver", time_limit=120, soft_time_limit=100, ignore_result=True)
def notifications_deliver_task() -> dict[str, Any]:
    from apps.market.clock import market_now
    from apps.telegram.services import daily_summary_record, notices_deliver, notices_prune

    summary = daily_summary_record(market_now=market_now(), now=timezone.now())
    sent = notices_deliver(now=timezone.now())
    pruned = notices_prune(now=timezone.now())
    return {"daily_summary": summary, "sent": sent, "pruned": pruned}
