"""One cycle of one bot in one symbol at one closed candle, as a Celery task runs it.

The cycle's steps are ``apps.trading.domain.runner.CycleRunner.cycle`` on the database store;
here: the cycle row (unique per bot, symbol and candle), the bot's lease, the paper
transaction, the bot's configuration with its AI, retries of transient errors, and what a
strategy error, a missing model, a FLATTEN breaker tier or a critical error do to the bot."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db import DatabaseError, InterfaceError, OperationalError, transaction

from apps.ai.services import ArtifactError, BotAiSetup
from apps.bots.lease import BotLease
from apps.bots.models import Bot
from apps.bots.services import bot_halt, bot_pause, bot_restart_schedule
from apps.exchange.domain.errors import RetryableError, UnknownOutcomeError
from apps.market.models import Kline
from apps.market.selectors import klines_window
from apps.risk.models import RiskSettings
from apps.strategies.domain.base import CandleArrays, Decision, PositionView, StrategyError
from apps.strategies.domain.registry import build_strategy
from apps.trading.domain.cycle import CycleConfig
from apps.trading.domain.profile import breaker_tiers
from apps.trading.domain.runner import ExitsStillOpen, OrderInFlight, breaker_evaluate
from apps.trading.engine.ai import ai_record, ai_strategy_for, bot_ai_setup, with_ai
from apps.trading.engine.context import (
    CRITICAL_PREFIX,
    FAILURES_KEY,
    RESTART_BASE_SECONDS,
    RESTART_MAX_SECONDS,
    LeaseLost,
    _Context,
    bot_lock,
    bot_profile,
    logger,
)
from apps.trading.engine.killswitch import bot_emergency_close
from apps.trading.engine.store import DbStore
from apps.trading.models import BotCycle
from apps.trading.venues import Runner, Venue, venue_open

__all__ = [
    "MAX_ATTEMPTS",
    "TRANSIENT",
    "CycleResult",
    "ExitsStillOpen",
    "bot_cycle_run",
    "restart_delay",
]


def _breaker(ctx: _Context, equity: Decimal) -> Any:
    """Evaluate the bot's circuit breaker (``CycleRunner.breaker``): losses from the closed
    trades in the database, latches from ``BreakerState`` (a tripped tier stays tripped across
    restarts), the dashboards told when the tier changes."""
    return breaker_evaluate(
        breaker_tiers(ctx.risk.breaker_tiers), DbStore(ctx.bot), ctx.now, equity
    )


def _cycle_config(
    bot: Bot,
    risk: RiskSettings,
    size_multiplier: Decimal,
    equity: Decimal,
    ai: BotAiSetup | None = None,
) -> CycleConfig:
    kind = bot.strategy.kind
    strategy = build_strategy(kind, bot.strategy.parameters, ai=ai_strategy_for(kind, ai))
    return bot_profile(bot, risk).cycle_config(equity, size_multiplier, strategy=strategy)


# A cycle that meets one of these is not decided: it stays ``running`` and the next tick
# retries it (up to ``MAX_ATTEMPTS``), with no emergency close: the venue or the database is
# only slow, busy or restarting (a paper cycle's transaction rolled back as a whole; a live
# cycle's orders were recorded before they were sent).
TRANSIENT = (RetryableError, UnknownOutcomeError, OrderInFlight, OperationalError, InterfaceError)
MAX_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class CycleResult:
    cycle: BotCycle | None
    outcome: str
    detail: str


def bot_cycle_run(*, bot_id: int, symbol: str, candle_open_time: int, now: datetime) -> CycleResult:
    """Run one cycle; idempotent per (bot, symbol, candle); raise CycleBusy if locked.

    The cycle row is written under the bot's lease, so a busy bot leaves no trace. A transient
    venue problem leaves the cycle ``running`` for the next tick to retry (outcome "retry");
    the kill switch taking the bot over ends it as "preempted".
    """
    bot = Bot.objects.select_related("strategy", "account").get(pk=bot_id)
    if not bot.enabled or bot.state != Bot.State.RUNNING:
        return CycleResult(None, "skipped", f"bot is {bot.state}")
    decided = BotCycle.objects.filter(
        bot=bot, symbol=symbol, candle_open_time=candle_open_time
    ).exclude(status=BotCycle.Status.RUNNING)
    if (cycle := decided.first()) is not None:
        return CycleResult(cycle, cycle.outcome, "already done")
    critical: Exception | None = None
    with bot_lock(bot.pk) as lease:
        bot.refresh_from_db(fields=["state", "state_reason", "enabled"])
        if not bot.enabled or bot.state != Bot.State.RUNNING:
            return CycleResult(None, "skipped", f"bot is {bot.state}")
        cycle, _ = BotCycle.objects.get_or_create(
            bot=bot, symbol=symbol, candle_open_time=candle_open_time, defaults={"started_at": now}
        )
        if cycle.status != BotCycle.Status.RUNNING:
            return CycleResult(cycle, cycle.outcome, "already done")
        cycle.attempts += 1
        cycle.save(update_fields=["attempts"])
        try:
            result = _run_locked(bot, cycle, symbol, candle_open_time, now, lease)
        except LeaseLost as exc:
            if not exc.taken_over:  # lapsed (e.g. the cache restarted): run it again
                return _transient(bot, cycle, exc, now)
            _finish(cycle, "preempted", f"preempted: {exc}", now, failed=True)
            return CycleResult(cycle, "preempted", str(exc))
        except TRANSIENT as exc:
            return _transient(bot, cycle, exc, now)
        except Exception as exc:  # a critical error: flatten, halt, restart later with backoff
            logger.exception("bot %s: critical error in cycle %s", bot.name, cycle.pk)
            _finish(cycle, "error", f"critical error: {exc}", now, failed=True)
            critical = exc
    if critical is not None:  # outside the lease: the emergency close takes it itself
        _critical_error(bot=bot, error=critical, now=now)
        return CycleResult(cycle, "error", f"critical error: {critical}")
    cache.delete(f"{FAILURES_KEY}{bot.pk}")
    return result


def _transient(bot: Bot, cycle: BotCycle, exc: Exception, now: datetime) -> CycleResult:
    detail = f"attempt {cycle.attempts}: {type(exc).__name__}: {exc}"
    try:
        if cycle.attempts >= MAX_ATTEMPTS:
            _finish(cycle, "error", f"gave up after {cycle.attempts} attempts; {detail}", now, True)
            logger.error("bot %s: cycle %s given up: %s", bot.name, cycle.pk, detail)
            return CycleResult(cycle, "error", detail)
        BotCycle.objects.filter(pk=cycle.pk).update(detail=detail[:2000])
    except DatabaseError:  # still down: the cycle stays running and is retried all the same
        logger.exception("bot %s: cycle %s not updated", bot.name, cycle.pk)
    logger.warning("bot %s: cycle %s will be retried: %s", bot.name, cycle.pk, detail)
    return CycleResult(cycle, "retry", detail)


def restart_delay(failures: int) -> int:
    """Seconds before a bot restarts after its ``failures``-th critical error in a row."""
    return min(RESTART_MAX_SECONDS, RESTART_BASE_SECONDS * 2 ** max(0, failures - 1))


def _critical_error(*, bot: Bot, error: Exception, now: datetime) -> None:
    """The seed's error recovery: emergency close, halt, and a delayed restart with backoff."""
    key = f"{FAILURES_KEY}{bot.pk}"
    cache.add(key, 0, timeout=None)
    failures = cache.incr(key)
    reason = f"{CRITICAL_PREFIX} {type(error).__name__}: {error}"[:200]
    try:
        bot_emergency_close(bot=bot, reason=reason, now=now, cause=Bot.Cause.CRITICAL_ERROR)
    except Exception:
        logger.exception("bot %s: emergency close after a critical error failed", bot.name)
        bot_halt(bot=bot, reason=f"kill switch: {reason}", cause=Bot.Cause.CRITICAL_ERROR)
    delay = restart_delay(failures)
    bot_restart_schedule(bot=bot, delay_s=delay)
    logger.error(
        "bot %s halted (%s); restart in %d s (failure %d)", bot.name, reason, delay, failures
    )


def _atomic_for(bot: Bot) -> AbstractContextManager[Any]:
    """Paper: one transaction, so the simulated exchange and the rows commit together. Live:
    none; every write commits at once, the order intent before it is sent."""
    return transaction.atomic() if bot.trading_mode == Bot.TradingMode.PAPER else nullcontext()


class _Decider:
    """The candle decision of a database cycle: the bot's configuration (with its AI) built
    once, the strategy's window read once from the ``Kline`` table."""

    def __init__(self, ctx: _Context, interval: str, ai: BotAiSetup | None) -> None:
        self.ctx, self.interval, self.ai = ctx, interval, ai
        self.config: CycleConfig | None = None
        self.asked: Any = None
        self.candles: CandleArrays | None = None

    def configure(self, equity: Decimal) -> CycleConfig:
        if self.config is None:
            ctx = self.ctx
            self.config, self.asked = with_ai(
                _cycle_config(ctx.bot, ctx.risk, Decimal(1), equity, self.ai), self.ai
            )
        return self.config

    def window(self, symbol: str, open_time: int) -> CandleArrays:
        if self.candles is None:
            strategy = self.configure(Decimal(0)).strategy
            self.candles = klines_window(
                symbol=symbol,
                interval=self.interval,
                end_ms=open_time,
                limit=max(
                    strategy.warmup_candles,
                    strategy.min_candles,
                    # the filter sees the AI's history too
                    self.ai.hybrid.lookback if self.ai is not None else 0,
                ),
            )
        return self.candles

    def decide(
        self, symbol: str, open_time: int, position: PositionView | None, equity: Decimal
    ) -> Decision | None:
        config = self.configure(equity)
        return config.strategy.decide(self.window(symbol, open_time), position)


def _run_locked(
    bot: Bot, cycle: BotCycle, symbol: str, candle_open_time: int, now: datetime, lease: BotLease
) -> CycleResult:
    risk, _ = RiskSettings.objects.get_or_create(bot=bot)
    run = Runner()
    interval = bot.strategy.timeframe
    venue: Venue | None = None
    try:
        ai = bot_ai_setup(bot)  # a missing or tampered model pauses the bot (below)
        with _atomic_for(bot):
            venue = venue_open(bot=bot, now=now, run=run)
            ctx = _Context(bot, risk, venue, run, now, lease)
            decider = _Decider(ctx, interval, ai)
            step = ctx.runner.cycle(
                symbol,
                candle_open_time,
                interval=interval,
                candle=Kline.objects.filter(
                    symbol=symbol, interval=interval, open_time=candle_open_time
                ).first(),
                decide=decider.decide,
                configure=decider.configure,
                window=decider.window,
            )
            if step.kind == "flatten":
                lease.check()
                venue.save()
                _finish(cycle, "flatten", step.reason, now)
                bot_halt(
                    bot=bot,
                    reason=f"circuit breaker: {step.reason}"[:255],
                    cause=Bot.Cause.CIRCUIT_BREAKER,
                )
                return CycleResult(cycle, "flatten", step.reason)
            ai_record(
                bot=bot,
                setup=ai,
                asked=decider.asked,
                symbol=symbol,
                candle_open_time=candle_open_time,
                at=now,
            )
            lease.check()  # a paper cycle commits only while it still holds the bot
            venue.save()
            _finish(cycle, step.kind, step.reason, now)
        return CycleResult(cycle, step.kind, step.reason)
    except StrategyError as exc:
        _finish(cycle, "error", str(exc), now, failed=True)
        bot_pause(bot=bot, reason=f"strategy error: {exc}"[:255], cause=Bot.Cause.STRATEGY_ERROR)
        return CycleResult(cycle, "error", str(exc))
    except ArtifactError as exc:  # never trade without the model the bot was given
        _finish(cycle, "error", str(exc), now, failed=True)
        bot_pause(bot=bot, reason=f"AI model: {exc}"[:255], cause=Bot.Cause.AI_MODEL)
        return CycleResult(cycle, "error", str(exc))
    finally:
        if venue is not None:
            venue.close()
        run.close()


def _finish(
    cycle: BotCycle, outcome: str, detail: str, now: datetime, failed: bool = False
) -> None:
    cycle.status = BotCycle.Status.FAILED if failed else BotCycle.Status.DONE
    cycle.outcome = outcome
    cycle.detail = detail[:2000]
    cycle.finished_at = now
    cycle.save(update_fields=["status", "outcome", "detail", "finished_at"])
