"""Acting on an external signal (the TradingView webhook), on a worker.

The HTTP side (``apps.webhook``) authenticates, validates, de-duplicates and stores the
``Signal`` (outcome ``accepted``), then hands its id to the ``trading.signal_process`` task.
Here, under the bot's lock (one decision of a bot at a time, candle cycles included), the
trading runner acts on it (``apps.trading.domain.signal_step.signal_step``: the same steps a
file of past signals is backtested with) against the bot's venue and the database store, and
the outcome is written on the Signal.
"""

from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from apps.ai.services import ArtifactError
from apps.bots.lease import BotLease
from apps.bots.models import Bot
from apps.bots.services import bot_pause
from apps.exchange.domain.errors import ExchangeError
from apps.market.clock import market_now
from apps.market.models import Kline
from apps.market.selectors import kline_last_closed_open_time, klines_window
from apps.orders.models import Order
from apps.risk.models import RiskSettings
from apps.strategies.domain.base import CandleArrays, StrategyError
from apps.trading.domain.cycle import CycleConfig
from apps.trading.domain.signal_step import SignalRefused, signal_step
from apps.trading.engine.ai import ai_record, bot_ai_setup, with_ai
from apps.trading.engine.context import LeaseLost, _Context, bot_lock, logger
from apps.trading.engine.cycle import TRANSIENT, _atomic_for, _cycle_config
from apps.trading.models import Signal
from apps.trading.venues import Runner, Venue, venue_open

__all__ = ["signal_process", "signals_drain"]


def signal_process(*, signal_id: int, wall: datetime | None = None) -> Signal:
    """Act on an accepted signal once, after every signal of its bot that arrived before it;
    return it with its outcome.

    Signals of one bot are acted on in the order they arrived (a ``buy`` then a ``close`` never
    turns into a close then a buy), under one hold of the bot's lease: the holder also acts on
    the ones that arrived after, until none waits, so a burst is served by one worker instead
    of each signal's task waiting for the bot in turn. ``wall`` is the real
    time a signal's age is judged by (default: now, for each signal); the venue runs on market
    time (the replayed clock in the demo). Raise ``CycleBusy`` when the bot is busy (the task
    retries); every other problem is recorded on the signal.
    """
    signal = Signal.objects.select_related("bot__strategy", "bot__account").get(pk=signal_id)
    if signal.outcome != Signal.Outcome.ACCEPTED:
        return signal  # done before (a redelivered task)
    bot = signal.bot
    if bot is None:
        return _record(signal, Signal.Outcome.REJECTED, "bot is deleted", wall or timezone.now())
    with bot_lock(bot.pk) as lease:
        signals_drain(bot=bot, lease=lease, wall=wall)
    signal.refresh_from_db()
    return signal


DRAIN_MAX_S = 30.0  # one hold of the lease acts on signals for at most this long


def signals_drain(*, bot: Bot, lease: BotLease, wall: datetime | None = None) -> int:
    """Act on the bot's accepted signals in arrival order, under its lease, until none waits
    (or ``DRAIN_MAX_S`` has passed); return how many were decided."""
    decided = 0
    deadline = time.monotonic() + DRAIN_MAX_S
    while time.monotonic() < deadline and lease.owned():
        signal = (
            Signal.objects.select_related("bot__strategy", "bot__account")
            .filter(bot=bot, outcome=Signal.Outcome.ACCEPTED)
            .order_by("received_at", "pk")
            .first()
        )
        if signal is None:
            break
        at = wall or timezone.now()
        current = signal.bot
        if not current.enabled or current.state != Bot.State.RUNNING:
            state = "disabled" if not current.enabled else current.state
            _record(signal, Signal.Outcome.REJECTED, f"bot is {state}", at)
        else:
            _process_locked(signal, current, at, lease)
        decided += 1
    return decided


def _process_locked(signal: Signal, bot: Bot, wall: datetime, lease: BotLease) -> Signal:
    risk, _ = RiskSettings.objects.get_or_create(bot=bot)
    now = market_now()
    run = Runner()
    venue: Venue | None = None
    try:
        with _atomic_for(bot):
            venue = venue_open(bot=bot, now=now, run=run)
            ctx = _Context(bot, risk, venue, run, now, lease)
            kind, detail, order, blocked_by = _decide_and_execute(ctx, signal, wall)
            lease.check()
            venue.save()
            _record(signal, kind, detail, wall, order=order, blocked_by=blocked_by)
    except SignalRefused as exc:
        _record(signal, exc.outcome, str(exc), wall, blocked_by=exc.blocked_by)
    except LeaseLost as exc:
        if exc.taken_over:
            _record(signal, Signal.Outcome.FAILED, f"preempted by the kill switch: {exc}", wall)
        else:  # lapsed: the signal stays accepted and the next holder acts on it
            logger.warning("signal %s: lease lapsed (%s); left for the next holder", signal.pk, exc)
    except ArtifactError as exc:  # never act without the model the bot was given
        bot_pause(bot=bot, reason=f"AI model: {exc}"[:255], cause=Bot.Cause.AI_MODEL)
        _record(signal, Signal.Outcome.FAILED, f"AI model: {exc}", wall)
    except (*TRANSIENT, ExchangeError, StrategyError) as exc:
        logger.warning("signal %s for bot %s failed: %s", signal.pk, bot.name, exc)
        _record(signal, Signal.Outcome.FAILED, f"{type(exc).__name__}: {exc}", wall)
    finally:
        if venue is not None:
            venue.close()
        run.close()
    return signal


def _decide_and_execute(
    ctx: _Context, signal: Signal, wall: datetime
) -> tuple[str, str, Order | None, str]:
    bot, symbol = ctx.bot, signal.symbol
    interval = bot.strategy.timeframe
    candle = _last_candle(symbol, interval, ctx.now)
    ai = bot_ai_setup(bot)  # the filter role confirms a signal's entry too
    made: dict[str, object] = {}

    def configure(equity: Decimal) -> CycleConfig:
        if "config" not in made:
            made["config"], made["asked"] = with_ai(
                _cycle_config(bot, ctx.risk, Decimal(1), equity, ai), ai
            )
        config: CycleConfig = made["config"]  # type: ignore[assignment]
        return config

    def window(symbol: str, open_time: int) -> CandleArrays:
        strategy = configure(Decimal(0)).strategy
        limit = max(strategy.warmup_candles or 100, ai.hybrid.lookback if ai is not None else 0)
        return klines_window(symbol=symbol, interval=interval, end_ms=open_time, limit=limit)

    def decided() -> None:
        ai_record(
            bot=bot,
            setup=ai,
            asked=made.get("asked"),
            symbol=symbol,
            candle_open_time=candle,
            at=ctx.now,
        )

    result = signal_step(
        ctx.runner,
        key=f"s{signal.pk}",
        action=signal.action,
        payload=signal.payload,
        sent_at=signal.signal_time or wall,
        symbol=symbol,
        interval=interval,
        open_time=candle,
        wall=wall,
        configure=configure,
        window=window,
        decided=decided,
    )
    return result.outcome, result.detail, result.order, result.blocked_by


def _last_candle(symbol: str, interval: str, now: datetime) -> int:
    """Open time of the last stored closed candle the signal is decided after."""
    latest = kline_last_closed_open_time(interval=interval, now_ms=int(now.timestamp() * 1000))
    open_time = (
        Kline.objects.filter(symbol=symbol, interval=interval, open_time__lte=latest)
        .order_by("-open_time")
        .values_list("open_time", flat=True)
        .first()
    )
    if open_time is None:
        raise SignalRefused(Signal.Outcome.FAILED, f"no {symbol} {interval} candles to trade on")
    return open_time


def _record(
    signal: Signal,
    outcome: str,
    detail: str,
    wall: datetime,
    *,
    order: Order | None = None,
    blocked_by: str = "",
) -> Signal:
    signal.outcome = outcome
    signal.detail = detail[:2000]
    signal.blocked_by = blocked_by[:64]
    signal.order = order
    signal.processed_at = wall
    signal.save(update_fields=["outcome", "detail", "blocked_by", "order", "processed_at"])
    logger.info("signal %s -> %s: %s", signal.pk, outcome, detail)
    signal_publish(signal)
    return signal


def signal_publish(signal: Signal) -> None:
    """Announce the signal's outcome to the dashboards (after commit)."""
    from apps.events import publish_event

    publish_event(
        "signal",
        {
            "id": signal.pk,
            "bot": signal.bot.name if signal.bot else None,
            "symbol": signal.symbol,
            "action": signal.action,
            "outcome": signal.outcome,
            "detail": signal.detail[:200],
        },
    )
