"""Which closed candles a bot has still to decide, and running them in order."""

from __future__ import annotations

from datetime import datetime

from apps.bots.lease import bot_lock
from apps.bots.models import Bot
from apps.exchange.domain.types import ms_to_datetime
from apps.market.models import Kline
from apps.market.selectors import interval_ms, kline_last_closed_open_time
from apps.trading.engine.cycle import CycleResult, bot_cycle_run
from apps.trading.models import BotCycle, Signal


def bot_due_candles(
    *, bot: Bot, now: datetime, limit: int = 200, start_ms: int | None = None
) -> list[tuple[int, str, int]]:
    """The closed candles a bot has not decided yet, oldest first: (open_time, symbol, close).

    A bot that never ran starts at the last closed candle, or at ``start_ms`` when given.
    """
    step = interval_ms(bot.strategy.timeframe)
    latest = kline_last_closed_open_time(
        interval=bot.strategy.timeframe, now_ms=int(now.timestamp() * 1000)
    )
    due: list[tuple[int, str, int]] = []
    for symbol in bot.symbols:
        # After the newest decided cycle: one left running by a dead worker is due again.
        done = (
            BotCycle.objects.filter(bot=bot, symbol=symbol)
            .exclude(status=BotCycle.Status.RUNNING)
            .order_by("-candle_open_time")
            .values_list("candle_open_time", flat=True)
            .first()
        )
        first = latest if start_ms is None else start_ms
        start = first if done is None else done + step
        times = Kline.objects.filter(
            symbol=symbol,
            interval=bot.strategy.timeframe,
            open_time__gte=start,
            open_time__lte=latest,
        ).values_list("open_time", flat=True)
        due.extend((t, symbol, t + step) for t in times.order_by("open_time")[:limit])
    due.sort()
    return due[:limit]


def bot_catch_up(
    *, bot_id: int, now: datetime, limit: int = 200, start_ms: int | None = None
) -> list[CycleResult]:
    """Run every due cycle of the bot in candle order (each decided at its candle's close).

    Webhook signals waiting for the bot go first, before each cycle: a long catch-up never
    makes a signal wait behind it.
    """
    bot = Bot.objects.select_related("strategy").get(pk=bot_id)
    results = []
    due = bot_due_candles(bot=bot, now=now, limit=limit, start_ms=start_ms)
    for open_time, symbol, close_ms in due:
        signals_waiting_process(bot_id=bot_id)
        result = bot_cycle_run(
            bot_id=bot_id,
            symbol=symbol,
            candle_open_time=open_time,
            now=ms_to_datetime(close_ms),
        )
        results.append(result)
        if result.outcome in ("skipped", "halted", "error", "flatten", "retry", "preempted"):
            break
    return results


def signals_waiting_process(*, bot_id: int) -> int:
    """Act on the bot's accepted signals now, oldest first; return how many were acted on.
    Raise ``CycleBusy`` when another actor holds the bot."""
    from apps.trading.engine.signals import signals_drain

    if not Signal.objects.filter(bot_id=bot_id, outcome=Signal.Outcome.ACCEPTED).exists():
        return 0
    bot = Bot.objects.select_related("strategy", "account").get(pk=bot_id)
    # notify=False: the candle's cycle takes the bot next (a signal task handed over on this
    # release would take it first); the cycle's release hands over what arrived meanwhile
    with bot_lock(bot_id, notify=False) as lease:
        return signals_drain(bot=bot, lease=lease)
