"""One cycle of one bot in one symbol at one closed candle."""

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
from apps.events import publish_event
from apps.exchange.domain.errors import InvalidOrderError, RetryableError, UnknownOutcomeError
from apps.exchange.domain.types import MarginType
from apps.exchange.models import Instrument
from apps.execution.domain.slippage import EntryDone
from apps.market.models import Kline
from apps.market.selectors import klines_window
from apps.orders.models import Order
from apps.orders.services import position_mark_to_market
from apps.risk.domain.circuit_breaker import BreakerAction
from apps.risk.domain.gate import OpenPosition, RiskContext
from apps.risk.domain.portfolio import CorrelationMatrix
from apps.risk.domain.sizing import InstrumentFilters
from apps.risk.domain.types import Direction
from apps.risk.domain.vix import CryptoVIX, VixReading
from apps.risk.models import BreakerState, RiskSettings
from apps.risk.services import RiskDataError, correlation_matrix_current, vix_current
from apps.strategies.domain.base import StrategyError
from apps.strategies.domain.registry import build_strategy
from apps.trading.domain.cycle import (
    CycleConfig,
    CycleInputs,
    CycleOutcome,
    OutcomeKind,
    decide_cycle,
)
from apps.trading.domain.profile import (
    breaker_decide,
    breaker_tiers,
    breaker_window,
    utc_day_start,
)
from apps.trading.engine.ai import ai_record, ai_strategy_for, bot_ai_setup, with_ai
from apps.trading.engine.context import (
    CRITICAL_PREFIX,
    FAILURES_KEY,
    RESTART_BASE_SECONDS,
    RESTART_MAX_SECONDS,
    LeaseLost,
    OrderInFlight,
    _Context,
    _equity,
    _position_view,
    _send,
    bot_lock,
    bot_profile,
    logger,
    volatility_bands,
)
from apps.trading.engine.exits import (
    _break_even,
    _cancel_orphan_exits,
    _cancel_protection,
    _flatten,
    _open_trade,
    _protect_open_position,
    _trail,
)
from apps.trading.engine.killswitch import bot_emergency_close
from apps.trading.models import BotCycle, Position, Signal, Trade
from apps.trading.paper import instrument_info
from apps.trading.venues import Runner, Venue, venue_open


def _breaker(ctx: _Context, equity: Decimal) -> Any:
    """Evaluate the bot's circuit breaker. Losses come from the closed trades in the database
    (the source of truth, whoever closed them); the latches come from ``BreakerState``, so a
    tripped tier stays tripped across restarts."""
    tiers = breaker_tiers(ctx.risk.breaker_tiers)
    if not tiers:
        return None
    row, _ = BreakerState.objects.get_or_create(bot=ctx.bot)
    closed = Trade.objects.filter(
        bot=ctx.bot,
        status=Trade.Status.CLOSED,
        exit_time__gt=ctx.now - breaker_window(tiers),
        exit_time__lte=ctx.now,
    ).values_list("exit_time", "realized_pnl", "fees", "funding")
    decision, row.state = breaker_decide(
        tiers,
        (row.state or {}).get("latched", {}),
        ((exit_time, pnl - fees - funding) for exit_time, pnl, fees, funding in closed),
        ctx.now,
        equity,
    )
    previous = row.last_action
    row.last_action = decision.action.value if decision.action else ""
    row.last_reason = decision.reason[:255] if decision.action else ""
    row.save()
    if row.last_action != previous and not ctx.bot.rehearsal:  # the dashboards' breaker tier
        publish_event(
            "breaker",
            {"bot": ctx.bot.name, "tier": row.last_action or "clear", "reason": row.last_reason},
        )
    return decision


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


def _record_signal(ctx: _Context, symbol: str, outcome: CycleOutcome, order: Order | None) -> None:
    decision = outcome.decision
    if decision is None:
        return
    action = {"ENTER_LONG": "buy", "ENTER_SHORT": "sell"}.get(decision.action.value, "close")
    result = {
        OutcomeKind.ENTER: Signal.Outcome.PLACED,
        OutcomeKind.EXIT: Signal.Outcome.PLACED,
        OutcomeKind.ADJUST_STOP: Signal.Outcome.PLACED,
        OutcomeKind.BLOCKED: Signal.Outcome.BLOCKED,
        OutcomeKind.REFUSED: Signal.Outcome.REJECTED,
    }.get(outcome.kind, Signal.Outcome.IGNORED)
    Signal.objects.create(
        bot=ctx.bot,
        source=Signal.Source.STRATEGY,
        symbol=symbol,
        action=action,
        payload={
            "price": str(decision.price),
            "stop": str(decision.stop_price or ""),
            "candle_open_time": decision.open_time,
        },
        outcome=result,
        blocked_by=outcome.blocked_by,
        detail="; ".join(dict.fromkeys((outcome.reason, *outcome.reasons)))[:2000],
        order=order,
        signal_time=ctx.now,
        processed_at=ctx.now,
    )


# A cycle that meets one of these is not decided: it stays ``running`` and the next tick
# retries it (up to ``MAX_ATTEMPTS``), with no emergency close: the venue or the database is
# only slow, busy or restarting (a paper cycle's transaction rolled back as a whole; a live
# cycle's orders were recorded before they were sent).
TRANSIENT = (RetryableError, UnknownOutcomeError, OrderInFlight, OperationalError, InterfaceError)
MAX_ATTEMPTS = 5


class ExitsStillOpen(OrderInFlight):
    """Exit orders of an ended trade are still open on the venue: nothing is decided until
    they are gone (an entry now could be filled against by them)."""


def _venue_setup(ctx: _Context, symbol: str) -> None:
    """Before an entry from flat, the venue trades ``symbol`` at the bot's leverage and margin
    type (Binance keeps both per symbol and account, 20x cross by default; the bot sizes and
    records its trades at its own). Leverage always changes; a margin type cannot change while
    the account has orders or a position in the symbol (another bot's, on a shared account):
    then the entry goes ahead on the account's margin type, and the log says so."""
    bot = ctx.bot
    ctx.run(ctx.venue.exchange.set_leverage(symbol, bot.leverage))
    try:
        ctx.run(ctx.venue.exchange.set_margin_type(symbol, MarginType(bot.margin_type)))
    except InvalidOrderError as exc:
        logger.warning(
            "bot %s %s: margin type stays as the account has it, not %s: %s",
            bot.name, symbol, bot.margin_type, exc,
        )  # fmt: skip


def _enter(ctx: _Context, symbol: str, outcome: CycleOutcome, config: CycleConfig) -> Order | None:
    plan = outcome.plan
    assert plan is not None
    # The stop price is on the position before anything is sent: a crash after the entry
    # fills leaves a position that recovery (reconcile, the next cycle) protects.
    position, _ = Position.objects.get_or_create(
        bot=ctx.bot, symbol=symbol, defaults={"leverage": ctx.bot.leverage}
    )
    if position.quantity == 0:
        Position.objects.filter(pk=position.pk).update(stop_price=plan.stop_price)
        _venue_setup(ctx, symbol)
    entry, first = plan.entry, None
    while True:
        round_filled = Decimal(0)  # what this round's IOC slices filled
        for request in entry.orders:
            order = _send(ctx, request, purpose="entry", expected=entry.expected_price)
            first = first or order
            round_filled += order.filled_quantity
        book = ctx.run(ctx.venue.exchange.get_orderbook(symbol, limit=50))
        follow = config.slippage.plan_after_fills(
            entry, filled_qty=round_filled, book=book, info=plan.info
        )
        if isinstance(follow, EntryDone):
            break
        entry = follow
    position = Position.objects.filter(bot=ctx.bot, symbol=symbol).first()
    if position is None or position.quantity == 0:
        return first
    _cancel_orphan_exits(ctx, symbol)  # an entry that flipped the position ended a trade
    Position.objects.filter(pk=position.pk).update(stop_price=plan.stop_price)
    trade = _open_trade(ctx, symbol)
    protection = plan.protection(
        filled_qty=abs(position.quantity), entry_price=position.entry_price
    )
    _send(ctx, protection.stop, purpose="stop_loss", trade=trade)
    for tp in protection.take_profits:
        _send(ctx, tp.order, purpose="take_profit", trade=trade)
    if protection.native_trailing is not None:
        _send(ctx, protection.native_trailing, purpose="trailing_stop", trade=trade)
    return first


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


def _venue_caught_up(ctx: _Context, symbol: str, interval: str, open_time: int) -> set[str]:
    """What happened on the venue since the last look, applied, and the position marked to the
    market; then no exit order of an ended trade stays open, and (live) an open position
    without a stop gets one back."""
    purposes = ctx.venue.catch_up(symbol=symbol, interval=interval, open_time=open_time)
    mark = ctx.run(ctx.venue.exchange.get_mark_price(symbol)).mark_price
    position_mark_to_market(bot=ctx.bot, symbol=symbol, price=mark)  # unrealized PnL now
    if _cancel_orphan_exits(ctx, symbol):
        raise ExitsStillOpen(f"{symbol}: exit orders of an ended trade could not be canceled yet")
    if ctx.bot.trading_mode != Bot.TradingMode.PAPER:
        _protect_open_position(ctx, symbol)
    return purposes


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
            purposes = _venue_caught_up(ctx, symbol, interval, candle_open_time)
            _break_even(ctx, symbol, purposes)
            _trail(
                ctx,
                symbol,
                Kline.objects.filter(
                    symbol=symbol, interval=interval, open_time=candle_open_time
                ).first(),
            )
            equity = _equity(ctx)
            breaker = _breaker(ctx, equity)
            if breaker is not None and breaker.action is BreakerAction.FLATTEN:
                for sym in bot.symbols:
                    _flatten(ctx, sym, breaker.reason)
                lease.check()
                venue.save()
                _finish(cycle, "flatten", breaker.reason, now)
                bot_halt(
                    bot=bot,
                    reason=f"circuit breaker: {breaker.reason}"[:255],
                    cause=Bot.Cause.CIRCUIT_BREAKER,
                )
                return CycleResult(cycle, "flatten", breaker.reason)
            outcome, config, asked = _decide(
                ctx, symbol, interval, candle_open_time, equity, breaker, ai
            )
            if outcome.kind is OutcomeKind.BLOCKED:
                logger.info(
                    "bot %s %s: entry blocked by %s: %s",
                    bot.name,
                    symbol,
                    outcome.blocked_by,
                    outcome.reason,
                )
            order = _execute(ctx, symbol, outcome, config)
            _record_signal(ctx, symbol, outcome, order)
            ai_record(
                bot=bot,
                setup=ai,
                asked=asked,
                symbol=symbol,
                candle_open_time=candle_open_time,
                at=now,
            )
            lease.check()  # a paper cycle commits only while it still holds the bot
            venue.save()
            _finish(cycle, outcome.kind.value, outcome.reason, now)
        return CycleResult(cycle, outcome.kind.value, outcome.reason)
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


def _decide(
    ctx: _Context,
    symbol: str,
    interval: str,
    open_time: int,
    equity: Decimal,
    breaker: Any,
    ai: BotAiSetup | None = None,
) -> tuple[CycleOutcome, CycleConfig, Any]:
    """The cycle's decision, the configuration it was taken with, and what to ask afterwards
    what the AI said (None without AI)."""
    bot = ctx.bot
    config, asked = with_ai(_cycle_config(bot, ctx.risk, Decimal(1), equity, ai), ai)
    candles = klines_window(
        symbol=symbol,
        interval=interval,
        end_ms=open_time,
        limit=max(
            config.strategy.warmup_candles,
            config.strategy.min_candles,
            ai.hybrid.lookback if ai is not None else 0,  # the filter sees the AI's history too
        ),
    )
    outcome = decide_cycle(cycle_inputs(ctx, symbol, candles, equity, breaker), config)
    return outcome, config, asked


KILL_CAUSES = frozenset({Bot.Cause.KILL_SWITCH, Bot.Cause.CRITICAL_ERROR})


def _daily_net_pnl(bot: Bot, now: datetime) -> Decimal:
    """Net PnL (realised - fees - funding) of the bot's trades closed since 00:00 UTC: what
    the daily loss limit counts."""
    total = Decimal(0)
    for pnl, fees, funding in Trade.objects.filter(
        bot=bot,
        status=Trade.Status.CLOSED,
        exit_time__gte=utc_day_start(now),
        exit_time__lte=now,
    ).values_list("realized_pnl", "fees", "funding"):
        total += pnl - fees - funding
    return total


def cycle_inputs(
    ctx: _Context, symbol: str, candles: Any, equity: Decimal, breaker: Any
) -> CycleInputs:
    """Everything the pure kernel needs about ``symbol`` now: instrument, book, quote, position
    and the risk context (open positions, breaker, CryptoVIX, correlations)."""
    bot = ctx.bot
    info = instrument_info(Instrument.objects.get(symbol=symbol))
    open_rows = Position.objects.filter(bot=bot).exclude(quantity=0)
    # Read now, not when the cycle began: a kill switch engaged meanwhile blocks this entry.
    cause, reason = Bot.objects.values_list("state_cause", "state_reason").get(pk=bot.pk)
    context = RiskContext(
        equity=equity,
        filters=InstrumentFilters(
            step_size=info.step_size, min_qty=info.min_qty, min_notional=info.min_notional
        ),
        open_positions=tuple(
            OpenPosition(
                p.symbol,
                Direction.LONG if p.quantity > 0 else Direction.SHORT,
                p.notional,
            )
            for p in open_rows
        ),
        kill_switch=cause in KILL_CAUSES,
        kill_switch_reason=reason,
        breaker=breaker,
        vix=_vix(ctx),
        correlations=_correlations(ctx, symbol, open_rows),
        daily_realized_pnl=_daily_net_pnl(bot, ctx.now),
    )
    return CycleInputs(
        symbol=symbol,
        candles=candles,
        info=info,
        book=ctx.run(ctx.venue.exchange.get_orderbook(symbol, limit=50)),
        ticker=ctx.run(ctx.venue.exchange.get_book_ticker(symbol)),
        risk=context,
        now=ctx.now,
        position=_position_view(bot, symbol),
    )


def _vix(ctx: _Context) -> VixReading | None:
    """The CryptoVIX reading scaled by the bot's own volatility bands (5-minute cache)."""
    try:
        return vix_current(now=ctx.now, vix=CryptoVIX(bands=volatility_bands(ctx.risk)))
    except RiskDataError as exc:
        logger.info("bot %s: no volatility reading (%s); size not scaled", ctx.bot.name, exc)
        return None


def _correlations(ctx: _Context, symbol: str, open_rows: Any) -> CorrelationMatrix | None:
    """The correlation matrix of the candidate and the open positions (1-hour cache)."""
    symbols = sorted({symbol, *(p.symbol for p in open_rows)})
    if len(symbols) < 2:
        return None
    try:
        return correlation_matrix_current(
            symbols=symbols, lookback=ctx.risk.correlation_lookback, now=ctx.now
        )
    except RiskDataError as exc:
        logger.info("bot %s: no correlation matrix (%s)", ctx.bot.name, exc)
        return None


def _execute(
    ctx: _Context, symbol: str, outcome: CycleOutcome, config: CycleConfig
) -> Order | None:
    if outcome.kind is OutcomeKind.ENTER:
        return _enter(ctx, symbol, outcome, config)
    if outcome.kind is OutcomeKind.EXIT:
        _cancel_protection(ctx, symbol)
        assert outcome.exit_order is not None
        return _send(ctx, outcome.exit_order, purpose="exit")
    return None


def _finish(
    cycle: BotCycle, outcome: str, detail: str, now: datetime, failed: bool = False
) -> None:
    cycle.status = BotCycle.Status.FAILED if failed else BotCycle.Status.DONE
    cycle.outcome = outcome
    cycle.detail = detail[:2000]
    cycle.finished_at = now
    cycle.save(update_fields=["status", "outcome", "detail", "finished_at"])
