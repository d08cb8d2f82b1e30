"""Trading tasks: thin; ids in, one service call, idempotent by (bot, symbol, candle).

Delivery, chosen per task kind (the broker's visibility timeout is set in the settings,
``CELERY_BROKER_TRANSPORT_OPTIONS``):

- ``trading.schedule``, ``trading.bot_tick``, ``trading.sync_market_data``: acknowledged on
  receipt (``acks_late=False``). They are periodic: the next beat (2 s, 20 s) does the work of
  one lost with its worker, and a redelivered copy would only queue behind it.
- ``trading.signal_process``: acknowledged after it ran (``acks_late``), and given back to the
  broker when its worker is lost, so another worker takes it; the scheduler's sweep also
  re-dispatches a signal still waiting after 5 s and closes one too old to act on as expired,
  so a signal never waits for the broker's visibility timeout. Acting twice is impossible: the
  signal is decided once, under the bot's lease. A task that finds the bot busy returns (no
  retry): the holder decides it, since every holder of a bot's lease looks for waiting signals
  once it has released the bot (a signal drain itself; any other, a cycle or the kill switch,
  through ``apps.bots.lease.on_release``, which hands the oldest to a worker).
- ``trading.bot_restart``: acknowledged on receipt; a restart is kept on the bot row
  (``restart_at``) and done by the scheduler's sweep, never as a delayed task.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.utils import timezone

from apps.bots.lease import on_release
from apps.bots.models import Bot
from apps.market.clock import market_now
from apps.trading.engine import CycleBusy, bot_catch_up
from apps.trading.engine.reconcile import reconcile_bot_now
from apps.trading.engine.signals import signal_process as signal_process_run
from apps.trading.engine.sweep import restarts_sweep, signal_dispatched, sweep
from apps.trading.models import Signal

logger = logging.getLogger(__name__)


@shared_task(
    name="trading.bot_tick",
    acks_late=False,
    time_limit=240,
    soft_time_limit=200,
    ignore_result=True,
)
def bot_tick(bot_id: int) -> None:
    """Run the bot's due cycles (every closed candle it has not decided yet), in order."""
    try:
        results = bot_catch_up(bot_id=bot_id, now=market_now(), limit=50)
    except CycleBusy:
        return  # the running tick of this bot will get there
    if results:
        logger.info("bot %s: %d cycle(s), last %s", bot_id, len(results), results[-1].outcome)


def _dispatch_signal(signal_id: int) -> None:
    signal_process.delay(signal_id)


@shared_task(
    name="trading.schedule", acks_late=False, time_limit=60, soft_time_limit=50, ignore_result=True
)
def schedule() -> None:
    """Beat entry: one tick per running bot (a busy bot skips its tick), then the sweep
    (waiting signals, abandoned cycles, restarts due)."""
    scheduled = Bot.objects.filter(enabled=True, state=Bot.State.RUNNING, rehearsal=False)
    for bot_id in scheduled.values_list("pk", flat=True):
        bot_tick.delay(bot_id)
    report = sweep(wall=timezone.now(), dispatch=_dispatch_signal)
    if report.expired or report.cycles_closed or report.restarted:
        logger.warning(
            "sweep: %d signal(s) expired, %d cycle(s) closed, restarted %s",
            len(report.expired),
            report.cycles_closed,
            report.restarted,
        )


@shared_task(
    name="trading.bot_restart",
    acks_late=False,
    time_limit=60,
    soft_time_limit=50,
    ignore_result=True,
)
def bot_restart(bot_id: int) -> None:
    """Resume halted bots whose restart after a critical error is due (the sweep does this
    every 2 s; the task does it now)."""
    restarts_sweep(now=timezone.now())


@shared_task(name="trading.sync_market_data", acks_late=False, time_limit=120, soft_time_limit=100)
def sync_market_data() -> dict[str, int]:
    """Beat entry: store the candles that closed on live bots' venues."""
    from apps.trading.venues import live_market_data_sync

    return live_market_data_sync(now=timezone.now())


@shared_task(
    name="trading.signal_process",
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=120,
    soft_time_limit=100,
    ignore_result=True,
)
def signal_process(signal_id: int) -> None:
    """Act on an accepted webhook signal (once), with every signal of its bot waiting before
    and after it. A busy bot: return; its holder decides the signal once it releases the bot
    (``signals_after_release``), and the sweep hands over one still waiting after 5 s."""
    try:
        signal = signal_process_run(signal_id=signal_id)
    except CycleBusy:
        logger.info("signal %s: bot busy; its holder acts on it on release", signal_id)
        return
    logger.info("signal %s: %s", signal_id, signal.outcome)


@on_release
def signals_after_release(bot_id: int) -> None:
    """A holder released the bot: hand the oldest signal still waiting for it to a worker (its
    own task found the bot busy and returned). One query when none waits."""
    waiting = (
        Signal.objects.filter(bot_id=bot_id, outcome=Signal.Outcome.ACCEPTED)
        .order_by("received_at", "pk")
        .values_list("pk", flat=True)
        .first()
    )
    if waiting is not None:
        signal_dispatched(waiting)  # the sweep leaves it to this task for a few seconds
        _dispatch_signal(waiting)


# --- reconciliation of live bots with their venue (task names kept from apps.exchange) ---
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
