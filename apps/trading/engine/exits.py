"""Stop moves (break-even, managed trailing, replace place-first), exit orders that must die
with their trade, a missing stop re-placed, and flattening."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.utils import timezone

from apps.bots.models import Bot
from apps.exchange.domain.errors import ExchangeError, OrderNotFoundError
from apps.exchange.models import Instrument
from apps.execution.domain.trailing import TrailingConfig
from apps.orders.domain.accounting import EXIT_PURPOSES, exit_order_orphaned
from apps.orders.models import Order
from apps.orders.services import order_apply_report, order_close_missing
from apps.trading.domain.profile import (
    break_even_stop,
    flatten_order,
    managed_trail_stop,
    replacement_stop_order,
)
from apps.trading.engine.context import (
    _Context,
    _send,
    logger,
)
from apps.trading.models import Position, Trade
from apps.trading.paper import instrument_info
from apps.trading.selectors import trade_get_open
from apps.trading.venues import OPEN_STATUSES


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
    request = replacement_stop_order(
        bot_key=f"b{ctx.bot.pk}",
        symbol=symbol,
        quantity=position.quantity,
        stop_price=new_stop,
        info=info,
        sequence=stops.count() + 1,
    )
    placed = _send(ctx, request, purpose=purpose, trade=_open_trade(ctx, symbol))
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
        _cancel(ctx, old)
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
    new_stop = managed_trail_stop(
        TrailingConfig(callback=bot.trailing_callback, activation=bot.trailing_activation),
        bot_key=f"b{bot.pk}",
        symbol=symbol,
        quantity=position.quantity,
        entry_price=position.entry_price,
        stop_price=position.stop_price,
        info=instrument_info(Instrument.objects.get(symbol=symbol)),
        high=candle.high,
        low=candle.low,
        close=candle.close,
    )
    if new_stop is not None:
        _replace_stop(ctx, symbol, new_stop, "trailing", purpose="trailing_stop")


def _break_even(ctx: _Context, symbol: str, filled_purposes: set[str]) -> None:
    """After a partial take-profit, move the stop to the entry price (if configured)."""
    if "take_profit" not in filled_purposes or not ctx.bot.break_even_after_first_exit:
        return
    position = Position.objects.filter(bot=ctx.bot, symbol=symbol).exclude(quantity=0).first()
    if position is None:
        return
    stop = break_even_stop(
        quantity=position.quantity, entry_price=position.entry_price, stop_price=position.stop_price
    )
    if stop is not None:
        _replace_stop(ctx, symbol, stop, "break-even after the first exit")


def _open_trade(ctx: _Context, symbol: str) -> Trade | None:
    return trade_get_open(bot=ctx.bot, symbol=symbol)


class Canceled(StrEnum):
    CLOSED = "closed"  # the order is closed on the venue (canceled, or filled before)
    ABSENT = "absent"  # the venue does not know it (recorded, never confirmed: in the grace)
    FAILED = "failed"  # the venue could not be asked: it may still be open there


def _cancel(ctx: _Context, order: Order) -> Canceled:
    """Cancel one order on the venue and record its final state.

    An order the venue no longer has open is looked up (it may have filled); one the venue does
    not know at all is closed as missing once the grace for in-flight orders has passed.
    """
    symbol, cid = order.symbol, order.client_order_id
    try:
        report = ctx.run(ctx.venue.exchange.cancel_order(symbol, cid))
    except OrderNotFoundError:
        try:
            report = ctx.run(ctx.venue.exchange.get_order(symbol, cid))
        except OrderNotFoundError:
            closed = order_close_missing(order=order, at=timezone.now())  # wall-clock grace
            return Canceled.CLOSED if closed.status not in OPEN_STATUSES else Canceled.ABSENT
        except ExchangeError as exc:
            logger.warning("lookup of %s failed: %s", cid, exc)
            return Canceled.FAILED
    except ExchangeError as exc:
        logger.warning("cancel of %s failed: %s", cid, exc)
        return Canceled.FAILED
    after = order_apply_report(order=order, report=report, at=ctx.now)
    return Canceled.CLOSED if after.status not in OPEN_STATUSES else Canceled.FAILED


def _cancel_protection(ctx: _Context, symbol: str) -> None:
    for order in Order.objects.filter(
        bot=ctx.bot, symbol=symbol, status__in=["NEW", "PARTIALLY_FILLED", "TRIGGERED"]
    ).exclude(purpose__in=["entry", "emergency"]):
        _cancel(ctx, order)


def _cancel_orphan_exits(ctx: _Context, symbol: str) -> int:
    """Cancel the exit orders (stop, take-profits, trailing) of trades that have ended; return
    how many may still be open on the venue. A trade's exit orders die with it: left alone, a
    reduce-only take-profit of a stopped-out trade fills against the next trade. One the venue
    does not know (its send failed) is not counted; it is canceled if it ever shows up."""
    trade = _open_trade(ctx, symbol)
    flat = not Position.objects.filter(bot=ctx.bot, symbol=symbol).exclude(quantity=0).exists()
    left = 0
    for order in Order.objects.filter(
        bot=ctx.bot, symbol=symbol, status__in=OPEN_STATUSES, purpose__in=EXIT_PURPOSES
    ).order_by("created_at", "id"):
        if not exit_order_orphaned(
            order_trade=order.trade_id, open_trade=trade.pk if trade else None, flat=flat
        ):
            continue
        outcome = _cancel(ctx, order)
        if outcome is Canceled.CLOSED:
            logger.info(
                "bot %s %s: canceled %s %s (its trade %s has ended)",
                ctx.bot.name,
                symbol,
                order.purpose,
                order.client_order_id,
                order.trade_id,
            )
        elif outcome is Canceled.FAILED:
            left += 1
    return left


def _protect_open_position(ctx: _Context, symbol: str) -> bool:
    """Re-place the protective stop of an open position that has a stop price and no stop
    order open (a crash between the entry and its stop); True when one was placed."""
    position = Position.objects.filter(bot=ctx.bot, symbol=symbol).exclude(quantity=0).first()
    if position is None or position.stop_price is None:
        return False
    protecting = Order.objects.filter(
        bot=ctx.bot,
        symbol=symbol,
        status__in=OPEN_STATUSES,
        purpose__in=["stop_loss", "trailing_stop"],
    )
    if protecting.exists():
        return False
    logger.warning(
        "bot %s %s: open position %s has no stop; re-placing it at %s",
        ctx.bot.name,
        symbol,
        position.quantity,
        position.stop_price,
    )
    return _replace_stop(ctx, symbol, position.stop_price, "missing stop re-placed")


def _flatten(ctx: _Context, symbol: str, reason: str) -> None:
    """Cancel the symbol's orders and close its position reduce-only at market."""
    _cancel_protection(ctx, symbol)
    position = Position.objects.filter(bot=ctx.bot, symbol=symbol).exclude(quantity=0).first()
    if position is None:
        return
    request = flatten_order(
        bot_key=f"b{ctx.bot.pk}", symbol=symbol, quantity=position.quantity, now=ctx.now
    )
    _send(ctx, request, purpose="emergency", trade=_open_trade(ctx, symbol))
    logger.warning("bot %s %s flattened: %s", ctx.bot.name, symbol, reason)
