"""AutoTradingService: one bot, one symbol, one closed candle, from data to database rows.

A cycle: load the bot -> (paper) feed the simulated exchange the candles it has not seen and
record what filled -> circuit breaker -> strategy + AI hook + risk gate + execution plan (the
pure ``decide_cycle``) -> send the orders -> orders, fills, trades and positions written through
the order services (one transaction per change, dashboard events after commit) -> the cycle
row. Cycles are unique per (bot, symbol, candle) and run under a per-bot lock, so a retried or
duplicated task never acts twice.

Paper bots trade on their own ``SimulatedExchange`` (``apps.trading.paper``). Live bots need the
Binance adapter, which is not wired into the loop yet: a live bot is halted with that reason
rather than trading on a guess.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db import transaction

from apps.bots.models import Bot
from apps.bots.services import bot_halt, bot_pause
from apps.core.domain.clock import ms_to_utc
from apps.exchange.domain.errors import ExchangeError, RejectedError
from apps.exchange.domain.ids import client_order_id
from apps.exchange.domain.types import OrderRequest, OrderType, Side
from apps.exchange.models import Instrument
from apps.execution.domain.partial_exit import BreakEvenRule, PartialExitManager
from apps.execution.domain.plan import TrailingMode
from apps.execution.domain.slippage import EntryDone, SlippageConfig, SlippageManager
from apps.execution.domain.trailing import TrailingConfig, TrailingStop, stop_market_order
from apps.market.models import Kline
from apps.market.selectors import interval_ms, kline_last_closed_open_time, klines_window
from apps.orders.models import Order
from apps.orders.services import order_apply_report, order_create, order_reject
from apps.risk.domain.circuit_breaker import BreakerAction, BreakerTier, CircuitBreaker
from apps.risk.domain.gate import OpenPosition, RiskConfig, RiskContext, RiskGate
from apps.risk.domain.portfolio import CorrelationMatrix
from apps.risk.domain.sizing import InstrumentFilters, SizingLimits
from apps.risk.domain.types import Direction
from apps.risk.domain.vix import CryptoVIX, VixReading, VolatilityBand
from apps.risk.models import BreakerState, RiskSettings
from apps.risk.services import RiskDataError, correlation_matrix_current, vix_current
from apps.risk.validation import validate_volatility_bands
from apps.strategies.domain.base import PositionView, StrategyError
from apps.strategies.domain.registry import build_strategy
from apps.trading.domain.cycle import (
    CycleConfig,
    CycleInputs,
    CycleOutcome,
    OutcomeKind,
    decide_cycle,
)
from apps.trading.models import BotCycle, Position, Signal, Trade
from apps.trading.paper import instrument_info
from apps.trading.venues import OPEN_STATUSES, Runner, Venue, venue_open

logger = logging.getLogger(__name__)

LOCK_SECONDS = 300
FAILURES_KEY = "bot-failures:"
CRITICAL_PREFIX = "critical error:"
RESTART_BASE_SECONDS = 60
RESTART_MAX_SECONDS = 3600
MAX_SLIPPAGE_BPS = Decimal(30)
BREAKER_ACTIONS = {
    "warn": BreakerAction.WARN,
    "reduce_size": BreakerAction.REDUCE_SIZE,
    "halt": BreakerAction.HALT_ENTRIES,
    "flatten": BreakerAction.FLATTEN,
}


class CycleBusy(Exception):
    """Another cycle of the same bot holds the lock; the task retries later."""


@contextmanager
def bot_lock(bot_id: int, *, seconds: int = LOCK_SECONDS) -> Iterator[None]:
    """One cycle of a bot at a time, across processes (the cache is Redis when configured)."""
    key, token = f"bot-lock:{bot_id}", uuid.uuid4().hex
    if not cache.add(key, token, timeout=seconds):
        raise CycleBusy(f"bot {bot_id} is already running a cycle")
    try:
        yield
    finally:
        if cache.get(key) == token:
            cache.delete(key)


@dataclass
class _Context:
    bot: Bot
    risk: RiskSettings
    venue: Venue
    run: Runner
    now: datetime


def _send(ctx: _Context, request: Any, *, purpose: str, expected: Decimal | None = None) -> Order:
    order = order_create(bot=ctx.bot, request=request, purpose=purpose, expected_price=expected)
    if order.status != Order.Status.PENDING_NEW:
        return order  # sent before (a retried cycle): never twice
    mark = ctx.venue.mark()
    try:
        report = ctx.run(ctx.venue.exchange.place_order(request))
    except RejectedError as exc:
        return order_reject(order=order, at=ctx.now, reason=str(exc)[:255], code=exc.code)
    order = order_apply_report(order=order, report=report, at=ctx.now)
    ctx.venue.after_place(order=order, report=report, mark=mark)
    order.refresh_from_db()
    return order


def _replace_stop(
    ctx: _Context, symbol: str, new_stop: Decimal, why: str, *, purpose: str = "stop_loss"
) -> bool:
    """Move the protective stop: place the new stop-market first and cancel the old one only
    once the new one rests, so the position is never without a stop."""
    position = Position.objects.filter(bot=ctx.bot, symbol=symbol).exclude(quantity=0).first()
    if position is None:
        return False
    info = instrument_info(Instrument.objects.get(symbol=symbol))
    stops = Order.objects.filter(
        bot=ctx.bot, symbol=symbol, purpose__in=["stop_loss", "trailing_stop"], type="STOP_MARKET"
    )
    old = stops.filter(status__in=["NEW", "PENDING_NEW"]).order_by("-created_at").first()
    request = stop_market_order(
        intent_id=client_order_id(f"b{ctx.bot.pk}", symbol, "stop"),
        side=Side.BUY if position.quantity > 0 else Side.SELL,
        quantity=abs(position.quantity),
        stop_price=new_stop,
        info=info,
        sequence=stops.count() + 1,
    )
    placed = _send(ctx, request, purpose=purpose)
    if placed.status != Order.Status.NEW:
        logger.warning(
            "bot %s %s: new stop %s not placed (%s); old stop kept",
            ctx.bot.name,
            symbol,
            new_stop,
            placed.reject_reason or placed.status,
        )
        return False
    if old is not None:
        try:
            report = ctx.run(ctx.venue.exchange.cancel_order(symbol, old.client_order_id))
            order_apply_report(order=old, report=report, at=ctx.now)
        except ExchangeError as exc:
            logger.warning("cancel of the old stop %s failed: %s", old.client_order_id, exc)
    Position.objects.filter(pk=position.pk).update(stop_price=request.trigger_price)
    logger.info(
        "bot %s %s: stop moved to %s (%s)", ctx.bot.name, symbol, request.trigger_price, why
    )
    return True


def _trail(ctx: _Context, symbol: str, candle: Any) -> None:
    """Managed trailing stop: ratchet the stop-market with the last closed candle."""
    bot = ctx.bot
    if bot.trailing != Bot.Trailing.MANAGED or candle is None:
        return
    position = Position.objects.filter(bot=bot, symbol=symbol).exclude(quantity=0).first()
    if position is None or position.stop_price is None:
        return
    trail = TrailingStop(
        TrailingConfig(callback=bot.trailing_callback, activation=bot.trailing_activation),
        intent_id=client_order_id(f"b{bot.pk}", symbol, "trail"),
        side=Side.BUY if position.quantity > 0 else Side.SELL,
        entry_price=position.entry_price,
        info=instrument_info(Instrument.objects.get(symbol=symbol)),
        initial_stop=position.stop_price,
    )
    update = trail.update_candle(candle.high, candle.low, candle.close)
    if update.replace and update.new_stop is not None:
        _replace_stop(ctx, symbol, update.new_stop, "trailing", purpose="trailing_stop")


def _break_even(ctx: _Context, symbol: str, filled_purposes: set[str]) -> None:
    """After a partial take-profit, move the stop to the entry price (if configured)."""
    if "take_profit" not in filled_purposes or not ctx.bot.break_even_after_first_exit:
        return
    position = Position.objects.filter(bot=ctx.bot, symbol=symbol).exclude(quantity=0).first()
    if position is None:
        return
    long = position.quantity > 0
    better = position.stop_price is None or (
        position.entry_price > position.stop_price
        if long
        else position.entry_price < position.stop_price
    )
    if better:
        _replace_stop(ctx, symbol, position.entry_price, "break-even after the first exit")


def _breaker(ctx: _Context, equity: Decimal) -> Any:
    """Evaluate the bot's circuit breaker. Losses come from the closed trades in the database
    (the source of truth, whoever closed them); the latches come from ``BreakerState``, so a
    tripped tier stays tripped across restarts."""
    tiers = [
        BreakerTier(
            name=t["name"],
            window_minutes=t["window_minutes"],
            action=BREAKER_ACTIONS[t["action"]],
            loss_limit=Decimal(t["loss_limit"]),
            size_multiplier=Decimal(t.get("size_multiplier", "1")),
        )
        for t in ctx.risk.breaker_tiers
    ]
    if not tiers:
        return None
    row, _ = BreakerState.objects.get_or_create(bot=ctx.bot)
    latched = (row.state or {}).get("latched", {})
    breaker = CircuitBreaker.from_state(tiers, {"version": 1, "events": [], "latched": latched})
    window = timedelta(minutes=max(t.window_minutes for t in tiers))
    for exit_time, pnl, fees, funding in Trade.objects.filter(
        bot=ctx.bot,
        status=Trade.Status.CLOSED,
        exit_time__gt=ctx.now - window,
        exit_time__lte=ctx.now,
    ).values_list("exit_time", "realized_pnl", "fees", "funding"):
        breaker.record_pnl(exit_time, pnl - fees - funding)
    decision = breaker.evaluate(ctx.now, equity)
    row.state = breaker.to_state()
    row.last_action = decision.action.value if decision.action else ""
    row.last_reason = decision.reason[:255] if decision.action else ""
    row.save()
    return decision


def _equity(ctx: _Context) -> Decimal:
    balances = ctx.run(ctx.venue.exchange.balances())
    usdt = next((b for b in balances if b.asset == "USDT"), None)
    return (usdt.wallet_balance + usdt.unrealized_pnl) if usdt else Decimal(0)


def _position_view(bot: Bot, symbol: str) -> PositionView | None:
    row = Position.objects.filter(bot=bot, symbol=symbol).exclude(quantity=0).first()
    if row is None:
        return None
    side = Side.BUY if row.side == "LONG" else Side.SELL
    return PositionView(side, row.entry_price, abs(row.quantity), row.stop_price)


def _cycle_config(
    bot: Bot, risk: RiskSettings, size_multiplier: Decimal, equity: Decimal
) -> CycleConfig:
    strategy = build_strategy(bot.strategy.kind, bot.strategy.parameters)
    gate = RiskGate(
        RiskConfig(
            sizing=SizingLimits(
                risk_pct=risk.risk_per_trade,
                max_leverage=Decimal(bot.leverage),
                # the bot's exposure cap (USDT) as a multiple of equity, never above leverage
                max_exposure_multiple=min(
                    Decimal(bot.leverage),
                    risk.max_exposure / equity if equity > 0 else Decimal(bot.leverage),
                ),
                max_open_positions=risk.max_open_positions,
            ),
            correlation_threshold=float(risk.correlation_threshold),
            block_on_missing_correlation=False,
        )
    )
    levels = bot.exit_take_profit_levels()
    exits = (
        PartialExitManager(
            levels,
            break_even=BreakEvenRule() if bot.break_even_after_first_exit else None,
        )
        if levels
        else None
    )
    trailing = (
        TrailingConfig(callback=bot.trailing_callback, activation=bot.trailing_activation)
        if bot.trailing != Bot.Trailing.NONE
        else None
    )
    mode = TrailingMode.NATIVE if bot.trailing == Bot.Trailing.NATIVE else TrailingMode.MANAGED
    return CycleConfig(
        bot_key=f"b{bot.pk}",
        strategy=strategy,
        gate=gate,
        slippage=SlippageManager(SlippageConfig(max_slippage_bps=MAX_SLIPPAGE_BPS)),
        exits=exits,
        trailing=trailing,
        trailing_mode=mode,
        size_multiplier=size_multiplier,
    )


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


def _enter(ctx: _Context, symbol: str, outcome: CycleOutcome, config: CycleConfig) -> Order | None:
    plan = outcome.plan
    assert plan is not None
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
    protection = plan.protection(
        filled_qty=abs(position.quantity), entry_price=position.entry_price
    )
    _send(ctx, protection.stop, purpose="stop_loss")
    for tp in protection.take_profits:
        _send(ctx, tp.order, purpose="take_profit")
    if protection.native_trailing is not None:
        _send(ctx, protection.native_trailing, purpose="trailing_stop")
    Position.objects.filter(pk=position.pk).update(stop_price=plan.stop_price)
    return first


def _cancel_protection(ctx: _Context, symbol: str) -> None:
    for order in Order.objects.filter(
        bot=ctx.bot, symbol=symbol, status__in=["NEW", "PARTIALLY_FILLED", "TRIGGERED"]
    ).exclude(purpose__in=["entry", "emergency"]):
        try:
            report = ctx.run(ctx.venue.exchange.cancel_order(symbol, order.client_order_id))
        except ExchangeError as exc:
            logger.warning("cancel of %s failed: %s", order.client_order_id, exc)
            continue
        order_apply_report(order=order, report=report, at=ctx.now)


def _flatten(ctx: _Context, symbol: str, reason: str) -> None:
    """Cancel the symbol's orders and close its position reduce-only at market."""
    _cancel_protection(ctx, symbol)
    position = Position.objects.filter(bot=ctx.bot, symbol=symbol).exclude(quantity=0).first()
    if position is None:
        return
    request = OrderRequest(
        symbol=symbol,
        side=Side.SELL if position.quantity > 0 else Side.BUY,
        type=OrderType.MARKET,
        quantity=abs(position.quantity),
        reduce_only=True,
        client_order_id=client_order_id(f"b{ctx.bot.pk}", symbol, "flat", ctx.now.isoformat()),
    )
    _send(ctx, request, purpose="emergency")
    logger.warning("bot %s %s flattened: %s", ctx.bot.name, symbol, reason)


@dataclass(frozen=True, slots=True)
class CycleResult:
    cycle: BotCycle | None
    outcome: str
    detail: str


def bot_cycle_run(*, bot_id: int, symbol: str, candle_open_time: int, now: datetime) -> CycleResult:
    """Run one cycle; idempotent per (bot, symbol, candle); raise CycleBusy if locked."""
    bot = Bot.objects.select_related("strategy", "account").get(pk=bot_id)
    if not bot.enabled or bot.state != Bot.State.RUNNING:
        return CycleResult(None, "skipped", f"bot is {bot.state}")
    cycle, created = BotCycle.objects.get_or_create(
        bot=bot, symbol=symbol, candle_open_time=candle_open_time, defaults={"started_at": now}
    )
    if not created and cycle.status == BotCycle.Status.DONE:
        return CycleResult(cycle, cycle.outcome, "already done")
    try:
        with bot_lock(bot.pk):
            result = _run_locked(bot, cycle, symbol, candle_open_time, now)
    except CycleBusy:
        raise
    except Exception as exc:  # a critical error: flatten, halt, restart later with backoff
        logger.exception("bot %s: critical error in cycle %s", bot.name, cycle.pk)
        _finish(cycle, "error", f"critical error: {exc}", now, failed=True)
        _critical_error(bot=bot, error=exc, now=now)
        return CycleResult(cycle, "error", f"critical error: {exc}")
    cache.delete(f"{FAILURES_KEY}{bot.pk}")
    return result


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
        bot_emergency_close(bot=bot, reason=reason, now=now)
    except Exception:
        logger.exception("bot %s: emergency close after a critical error failed", bot.name)
        bot_halt(bot=bot, reason=reason)
    delay = restart_delay(failures)
    from apps.trading.tasks import bot_restart

    bot_restart.apply_async(args=[bot.pk], countdown=delay)
    logger.error(
        "bot %s halted (%s); restart in %d s (failure %d)", bot.name, reason, delay, failures
    )


def _run_locked(
    bot: Bot, cycle: BotCycle, symbol: str, candle_open_time: int, now: datetime
) -> CycleResult:
    risk, _ = RiskSettings.objects.get_or_create(bot=bot)
    run = Runner()
    interval = bot.strategy.timeframe
    venue: Venue | None = None
    try:
        with transaction.atomic():
            venue = venue_open(bot=bot, now=now, run=run)
            ctx = _Context(bot, risk, venue, run, now)
            purposes = venue.catch_up(symbol=symbol, interval=interval, open_time=candle_open_time)
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
                venue.save()
                _finish(cycle, "flatten", breaker.reason, now)
                bot_halt(bot=bot, reason=f"circuit breaker: {breaker.reason}"[:255])
                return CycleResult(cycle, "flatten", breaker.reason)
            outcome = _decide(ctx, symbol, interval, candle_open_time, equity, breaker)
            if outcome.kind is OutcomeKind.BLOCKED:
                logger.info(
                    "bot %s %s: entry blocked by %s: %s",
                    bot.name,
                    symbol,
                    outcome.blocked_by,
                    outcome.reason,
                )
            order = _execute(ctx, symbol, outcome, _cycle_config(bot, risk, Decimal(1), equity))
            _record_signal(ctx, symbol, outcome, order)
            venue.save()
            _finish(cycle, outcome.kind.value, outcome.reason, now)
        return CycleResult(cycle, outcome.kind.value, outcome.reason)
    except StrategyError as exc:
        _finish(cycle, "error", str(exc), now, failed=True)
        bot_pause(bot=bot, reason=f"strategy error: {exc}"[:255])
        return CycleResult(cycle, "error", str(exc))
    finally:
        if venue is not None:
            venue.close()
        run.close()


def _decide(
    ctx: _Context, symbol: str, interval: str, open_time: int, equity: Decimal, breaker: Any
) -> CycleOutcome:
    bot = ctx.bot
    config = _cycle_config(bot, ctx.risk, Decimal(1), equity)
    candles = klines_window(
        symbol=symbol,
        interval=interval,
        end_ms=open_time,
        limit=max(config.strategy.warmup_candles, config.strategy.min_candles),
    )
    instrument = Instrument.objects.get(symbol=symbol)
    info = instrument_info(instrument)
    open_rows = Position.objects.filter(bot=bot).exclude(quantity=0)
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
        breaker=breaker,
        vix=_vix(ctx),
        correlations=_correlations(ctx, symbol, open_rows),
    )
    return decide_cycle(
        CycleInputs(
            symbol=symbol,
            candles=candles,
            info=info,
            book=ctx.run(ctx.venue.exchange.get_orderbook(symbol, limit=50)),
            ticker=ctx.run(ctx.venue.exchange.get_book_ticker(symbol)),
            risk=context,
            now=ctx.now,
            position=_position_view(bot, symbol),
        ),
        config,
    )


def _vix(ctx: _Context) -> VixReading | None:
    """The CryptoVIX reading scaled by the bot's own volatility bands (5-minute cache)."""
    bands = tuple(
        VolatilityBand(float(b["max_score"]), Decimal(b["size_multiplier"]))
        for b in validate_volatility_bands(ctx.risk.volatility_bands)
    )
    try:
        return vix_current(now=ctx.now, vix=CryptoVIX(bands=bands))
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
        done = (
            BotCycle.objects.filter(bot=bot, symbol=symbol)
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
    """Run every due cycle of the bot in candle order (each decided at its candle's close)."""
    bot = Bot.objects.select_related("strategy").get(pk=bot_id)
    results = []
    due = bot_due_candles(bot=bot, now=now, limit=limit, start_ms=start_ms)
    for open_time, symbol, close_ms in due:
        result = bot_cycle_run(
            bot_id=bot_id,
            symbol=symbol,
            candle_open_time=open_time,
            now=ms_to_utc(close_ms),
        )
        results.append(result)
        if result.outcome in ("skipped", "halted", "error", "flatten"):
            break
    return results


@dataclass(frozen=True, slots=True)
class EmergencyReport:
    bot: str
    orders_canceled: int
    positions_closed: int
    open_orders_left: int
    open_positions_left: int


def bot_emergency_close(*, bot: Bot, reason: str, now: datetime) -> EmergencyReport:
    """Kill switch for one bot: cancel every open order, close every position reduce-only at
    market, halt the bot. Runs under the bot's lock, so no cycle can place anything meanwhile."""
    with bot_lock(bot.pk):
        risk, _ = RiskSettings.objects.get_or_create(bot=bot)
        run = Runner()
        venue: Venue | None = None
        try:
            with transaction.atomic():
                venue = venue_open(bot=bot, now=now, run=run)
                ctx = _Context(bot, risk, venue, run, now)
                for symbol in bot.symbols:  # what filled since the last cycle (live venues)
                    venue.catch_up(symbol=symbol, interval=bot.strategy.timeframe, open_time=-1)
                open_before = Order.objects.filter(bot=bot, status__in=OPEN_STATUSES).count()
                positions_before = Position.objects.filter(bot=bot).exclude(quantity=0).count()
                for symbol in bot.symbols:
                    _flatten(ctx, symbol, reason)
                    run(venue.exchange.cancel_all(symbol))
                for symbol in bot.symbols:  # anything the venue still holds, we no longer want
                    for order in Order.objects.filter(
                        bot=bot, symbol=symbol, status__in=OPEN_STATUSES
                    ):
                        report = run(venue.exchange.get_order(symbol, order.client_order_id))
                        order_apply_report(order=order, report=report, at=now)
                venue.save()
                bot_halt(bot=bot, reason=f"kill switch: {reason}"[:255])
        finally:
            if venue is not None:
                venue.close()
            run.close()
    return EmergencyReport(
        bot=bot.name,
        orders_canceled=open_before
        - Order.objects.filter(bot=bot, status__in=OPEN_STATUSES).count(),
        positions_closed=positions_before,
        open_orders_left=Order.objects.filter(bot=bot, status__in=OPEN_STATUSES).count(),
        open_positions_left=Position.objects.filter(bot=bot).exclude(quantity=0).count(),
    )


def killswitch_engage(
    *, reason: str, now: datetime, bot_names: list[str] | None = None
) -> list[EmergencyReport]:
    """Emergency close of the named bots (all bots when none are named)."""
    if not reason.strip():
        raise ValueError("the kill switch needs a reason")
    bots = Bot.objects.select_related("strategy", "account").order_by("name")
    if bot_names:
        bots = bots.filter(name__in=bot_names)
        missing = sorted(set(bot_names) - set(bots.values_list("name", flat=True)))
        if missing:
            raise ValueError(f"unknown bot(s): {', '.join(missing)}")
    return [bot_emergency_close(bot=bot, reason=reason, now=now) for bot in bots]
