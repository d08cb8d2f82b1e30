"""Trading tasks: thin; ids in, one service call, idempotent by (bot, symbol, candle)."""

from __future__ import annotations

import logging

from celery import shared_task

from apps.bots.models import Bot
from apps.bots.services import bot_resume
from apps.market.clock import market_now
from apps.trading.engine import CRITICAL_PREFIX, CycleBusy, bot_catch_up
from apps.trading.engine.signals import signal_process as signal_process_run

logger = logging.getLogger(__name__)


@shared_task(name="trading.bot_tick", time_limit=600, soft_time_limit=540, ignore_result=True)
def bot_tick(bot_id: int) -> None:
    """Run the bot's due cycles (every closed candle it has not decided yet), in order."""
    try:
        results = bot_catch_up(bot_id=bot_id, now=market_now(), limit=50)
    except CycleBusy:
        return  # the running tick of this bot will get there
    if results:
        logger.info("bot %s: %d cycle(s), last %s", bot_id, len(results), results[-1].outcome)


@shared_task(name="trading.schedule", time_limit=60, soft_time_limit=50, ignore_result=True)
def schedule() -> None:
    """Beat entry: one tick per running bot (a busy bot skips its tick)."""
    for bot_id in Bot.objects.filter(enabled=True, state=Bot.State.RUNNING).values_list(
        "pk", flat=True
    ):
        bot_tick.delay(bot_id)


@shared_task(name="trading.bot_restart", time_limit=60, soft_time_limit=50, ignore_result=True)
def bot_restart(bot_id: int) -> None:
    """Resume a bot halted by a critical error (not one halted by a person or a risk rule)."""
    bot = Bot.objects.filter(pk=bot_id).first()
    if bot is None or bot.state != Bot.State.HALTED:
        return
    if "kill switch: " + CRITICAL_PREFIX not in bot.state_reason:
        return
    bot_resume(bot=bot)
    logger.warning("bot %s restarted after a critical error", bot.name)


@shared_task(name="trading.sync_market_data", time_limit=120, soft_time_limit=100)
def sync_market_data() -> dict[str, int]:
    """Beat entry: store the candles that closed on live bots' venues."""
    from django.utils import timezone

    from apps.trading.venues import live_market_data_sync

    return live_market_data_sync(now=timezone.now())


@shared_task(
    name="trading.signal_process",
    bind=True,
    max_retries=30,
    time_limit=120,
    soft_time_limit=100,
    ignore_result=True,
)
def signal_process(self, signal_id: int) -> None:  # type: ignore[no-untyped-def]
    """Act on an accepted webhook signal (once; a busy bot retries it shortly)."""
    try:
        signal = signal_process_run(signal_id=signal_id)
    except CycleBusy as exc:
        raise self.retry(exc=exc, countdown=0.5) from None
    logger.info("signal %s: %s", signal_id, signal.outcome)
