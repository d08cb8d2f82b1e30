"""Exchange tasks: thin interfaces that load by id and call one service."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.utils import timezone

from apps.bots.lease import CycleBusy
from apps.bots.models import Bot
from apps.exchange.reconciliation import reconcile_bot_now

logger = logging.getLogger(__name__)


@shared_task(
    name="exchange.reconcile_bot",
    bind=True,
    acks_late=True,  # idempotent: a copy delivered again after a lost worker does no harm
    max_retries=24,
    time_limit=120,
    soft_time_limit=100,
)
def reconcile_bot_task(self, bot_id: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Reconcile one bot with its exchange; return the report as a JSON-able dict. A bot busy
    with a cycle (or a dead worker's lease, until it lapses) is retried every 5 s."""
    bot = Bot.objects.select_related("account").get(pk=bot_id)
    try:
        return reconcile_bot_now(bot=bot, at=timezone.now()).as_dict()
    except CycleBusy as exc:
        raise self.retry(exc=exc, countdown=5) from None


def live_bots() -> list[int]:
    """Bots that trade on a real venue (testnet or live): paper bots reconcile in their cycle."""
    return list(
        Bot.objects.filter(enabled=True, trading_mode=Bot.TradingMode.LIVE)
        .exclude(account__environment="paper")
        .values_list("pk", flat=True)
    )


@shared_task(
    name="exchange.reconcile_live",
    acks_late=False,  # periodic: the next beat does the work of a lost one
    time_limit=60,
    soft_time_limit=50,
    ignore_result=True,
)
def reconcile_live() -> None:
    """Beat entry (and worker start): reconcile every live bot."""
    for bot_id in live_bots():
        reconcile_bot_task.delay(bot_id)


@worker_ready.connect
def _reconcile_on_worker_start(sender: Any = None, **kwargs: Any) -> None:
    logger.info("worker ready: reconciling live bots")
    reconcile_live.delay()
