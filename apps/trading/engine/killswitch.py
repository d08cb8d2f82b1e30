"""The kill switch: flatten what the venue holds, cancel every order there, halt, report.

The venue is the truth, not the database: a crash can leave a position the records never saw
(an entry filled, then the worker died), and an emergency close that only read the records
would leave it open. So, per bot:

1. halt the bot (committed first: no new cycle starts) and take its lease over, waiting at
   most ``KILL_WAIT_S`` for a running cycle (a dead worker's lease is simply taken; the cycle
   it belonged to, if alive, stops at its next lease check before it sends anything);
2. bring the records up to the venue (fills since the last look, orders recorded but never
   confirmed, the bot's own orders whose record was lost);
3. cancel every open order of the bot on the venue, regular and conditional (algo), whether
   the records know it or not;
4. close the bot's position in every symbol as the venue reports it, reduce-only at market;
5. read the venue again and repeat 3-4 until it holds nothing of the bot (at most
   ``VERIFY_ROUNDS``), then report what the venue says: orders and positions left.

On a live account several bots may share a symbol (the venue nets them): a bot's share is the
venue's position less what the other bots' records hold, and only orders with the bot's client
id prefix are touched. A paper bot's venue is its own simulated exchange.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from apps.bots.models import Bot
from apps.bots.services import bot_halt
from apps.exchange.domain.errors import ExchangeError, OrderNotFoundError
from apps.exchange.domain.types import OrderReport
from apps.orders.domain.accounting import bot_client_id_prefix
from apps.orders.models import Order
from apps.orders.services import order_apply_report, order_close_missing
from apps.risk.models import RiskSettings
from apps.trading.domain.profile import flatten_order
from apps.trading.domain.runner import Canceled
from apps.trading.engine.context import _Context, _send, bot_lock, logger
from apps.trading.engine.exits import _open_trade
from apps.trading.models import Position
from apps.trading.venues import OPEN_STATUSES, Runner, Venue, venue_open

KILL_WAIT_S = 2.0  # how long the kill switch lets a running cycle finish before taking over
VERIFY_ROUNDS = 5
VERIFY_PAUSE_S = 0.5  # between rounds on a live venue (an order in flight may still land)
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class EmergencyReport:
    """What the kill switch did to one bot, and what the venue holds afterwards."""

    bot: str
    orders_canceled: int
    positions_closed: int
    open_orders_left: int
    open_positions_left: int
    notes: tuple[str, ...] = field(default_factory=tuple)
    error: str = ""  # the kill switch could not finish for this bot (the venue failed)


@dataclass
class _Tally:
    canceled: int = 0
    closed: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


def bot_emergency_close(
    *, bot: Bot, reason: str, now: datetime, cause: str = Bot.Cause.KILL_SWITCH
) -> EmergencyReport:
    """Kill switch for one bot (see the module doc); return what the venue holds afterwards."""
    # Imported here: the cycle module imports this one (a critical error closes the bot).
    from apps.trading.engine.cycle import _atomic_for

    bot_halt(bot=bot, reason=f"kill switch: {reason}"[:255], cause=cause)
    tally = _Tally()
    with bot_lock(bot.pk, wait=KILL_WAIT_S, steal=True) as lease:
        risk, _ = RiskSettings.objects.get_or_create(bot=bot)
        run = Runner()
        venue: Venue | None = None
        try:
            with _atomic_for(bot):
                venue = venue_open(bot=bot, now=now, run=run)
                ctx = _Context(bot, risk, venue, run, now, lease)
                symbols = _symbols_in_play(bot)
                for symbol in symbols:  # what happened since the last look, booked first
                    _catch_up(ctx, symbol, tally)
                orders_left, exposure = _venue_state(ctx, symbols)
                for attempt in range(VERIFY_ROUNDS):
                    if not orders_left and not any(exposure.values()):
                        break
                    if attempt and venue.shared_account:
                        time.sleep(VERIFY_PAUSE_S)
                    for symbol in symbols:
                        _cancel_all(ctx, symbol, orders_left, tally)
                        if exposure.get(symbol):
                            _close(ctx, symbol, exposure[symbol], attempt, tally)
                    orders_left, exposure = _venue_state(ctx, symbols)
                _settle_records(ctx, symbols, exposure, tally)
                venue.save()
        finally:
            if venue is not None:
                venue.close()
            run.close()
    left_orders = len(orders_left)
    left_positions = sum(1 for qty in exposure.values() if qty)
    if left_orders or left_positions:
        logger.error(
            "bot %s: kill switch left %d order(s) and %d position(s) open on the venue",
            bot.name,
            left_orders,
            left_positions,
        )
    return EmergencyReport(
        bot=bot.name,
        orders_canceled=tally.canceled,
        positions_closed=len(tally.closed),
        open_orders_left=left_orders,
        open_positions_left=left_positions,
        notes=tuple(tally.notes),
    )


def _symbols_in_play(bot: Bot) -> list[str]:
    symbols = set(bot.symbols or [])
    symbols.update(
        Order.objects.filter(bot=bot, status__in=OPEN_STATUSES).values_list("symbol", flat=True)
    )
    symbols.update(
        Position.objects.filter(bot=bot).exclude(quantity=0).values_list("symbol", flat=True)
    )
    return sorted(symbols)


def _catch_up(ctx: _Context, symbol: str, tally: _Tally) -> None:
    try:
        ctx.venue.catch_up(symbol=symbol, interval=ctx.bot.strategy.timeframe, open_time=-1)
    except ExchangeError as exc:  # not a reason to stop: the venue is read again below
        tally.notes.append(f"{symbol}: catching up with the venue failed: {exc}")


def _venue_state(ctx: _Context, symbols: list[str]) -> tuple[list[OrderReport], dict[str, Decimal]]:
    """The bot's open orders on the venue and its signed exposure per symbol, as the venue
    says (the bot's share where the account is shared)."""
    prefix = bot_client_id_prefix(ctx.bot.pk)
    orders: list[OrderReport] = []
    exposure: dict[str, Decimal] = {}
    positions: dict[str, Decimal] = {}
    for pos in ctx.run(ctx.venue.exchange.positions()):
        positions[pos.symbol] = positions.get(pos.symbol, ZERO) + pos.quantity
    for symbol in symbols:
        for report in ctx.run(ctx.venue.exchange.open_orders(symbol)):
            if not ctx.venue.shared_account or report.client_order_id.startswith(prefix):
                orders.append(report)
        exposure[symbol] = _share(ctx, symbol, positions.get(symbol, ZERO))
    return orders, exposure


def _share(ctx: _Context, symbol: str, venue_qty: Decimal) -> Decimal:
    """The part of the venue's position that is this bot's: all of it on its own venue; on a
    shared account what the other bots' records do not account for (never more than the
    venue holds, never the other way)."""
    if not ctx.venue.shared_account or venue_qty == 0:
        return venue_qty
    others = (
        Position.objects.filter(bot__account=ctx.bot.account, symbol=symbol)
        .exclude(bot=ctx.bot)
        .aggregate(q=Sum("quantity"))["q"]
        or ZERO
    )
    mine = venue_qty - others
    if mine == 0 or (mine > 0) != (venue_qty > 0):
        return ZERO
    return mine if abs(mine) <= abs(venue_qty) else venue_qty


def _cancel_all(ctx: _Context, symbol: str, venue_orders: list[OrderReport], tally: _Tally) -> None:
    """Cancel the bot's open orders in ``symbol``: the venue's (known to the records or not,
    regular and conditional alike) and the records' (``CycleRunner.cancel_orders``)."""
    recorded: list[Order] = []
    unrecorded: list[OrderReport] = []
    for report in venue_orders:
        if report.symbol != symbol:
            continue
        order = Order.objects.filter(bot=ctx.bot, client_order_id=report.client_order_id).first()
        if order is not None:
            recorded.append(order)
        else:  # the bot's own order the records lost: canceled all the same
            unrecorded.append(report)
    seen = {report.client_order_id for report in venue_orders if report.symbol == symbol}
    gone = [  # gone from the venue: their final state is read and recorded
        order
        for order in Order.objects.filter(bot=ctx.bot, symbol=symbol, status__in=OPEN_STATUSES)
        if order.client_order_id not in seen and order.purpose != Order.Purpose.EMERGENCY
    ]
    done = ctx.runner.cancel_orders([*recorded, *gone], unrecorded=unrecorded)
    tally.canceled += len(done.unrecorded) + sum(
        1 for order in recorded if done.outcomes[order.client_order_id] is Canceled.CLOSED
    )
    tally.notes.extend(done.notes)


def _close(ctx: _Context, symbol: str, qty: Decimal, attempt: int, tally: _Tally) -> None:
    """Close ``qty`` (signed, the bot's venue exposure) reduce-only at market."""
    request = flatten_order(
        bot_key=f"b{ctx.bot.pk}", symbol=symbol, quantity=qty, now=ctx.now, attempt=attempt
    )
    try:
        order = _send(ctx, request, purpose="emergency", trade=_open_trade(ctx, symbol))
    except ExchangeError as exc:
        tally.notes.append(f"{symbol}: closing {qty} failed: {exc}")
        return
    if order.filled_quantity > 0:
        tally.closed.add(symbol)
    logger.warning(
        "bot %s %s: kill switch closed %s of %s (%s)",
        ctx.bot.name,
        symbol,
        order.filled_quantity,
        qty,
        order.status,
    )


def _settle_records(
    ctx: _Context, symbols: list[str], exposure: dict[str, Decimal], tally: _Tally
) -> None:
    """Bring the records' open orders to their final venue state; say where the records'
    position still differs from the venue's."""
    wall = timezone.now()
    for order in Order.objects.filter(bot=ctx.bot, status__in=OPEN_STATUSES):
        try:
            report = ctx.run(ctx.venue.exchange.get_order(order.symbol, order.client_order_id))
        except OrderNotFoundError:
            order_close_missing(order=order, at=wall)
            continue
        except ExchangeError as exc:
            tally.notes.append(f"{order.client_order_id}: state unknown ({exc})")
            continue
        order_apply_report(order=order, report=report, at=ctx.now)
    for symbol in symbols:
        row = Position.objects.filter(bot=ctx.bot, symbol=symbol).first()
        ours = row.quantity if row is not None else ZERO
        if ours != exposure.get(symbol, ZERO):
            tally.notes.append(
                f"{symbol}: the records hold {ours}, the venue {exposure.get(symbol, ZERO)}: "
                "run reconcile"
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
    reports = []
    for bot in bots:  # one bot's failure never stops the others' emergency close
        try:
            reports.append(bot_emergency_close(bot=bot, reason=reason, now=now))
        except Exception as exc:
            logger.exception("bot %s: kill switch failed", bot.name)
            open_orders = Order.objects.filter(bot=bot, status__in=OPEN_STATUSES).count()
            open_positions = Position.objects.filter(bot=bot).exclude(quantity=0).count()
            reports.append(
                EmergencyReport(
                    bot=bot.name,
                    orders_canceled=0,
                    positions_closed=0,
                    open_orders_left=open_orders,
                    open_positions_left=open_positions,
                    error=f"{type(exc).__name__}: {exc}"[:500],
                )
            )
    return reports
