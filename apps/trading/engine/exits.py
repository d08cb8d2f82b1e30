"""Stop moves (break-even, managed trailing, replace place-first) and flattening."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from apps.bots.models import Bot
from apps.exchange.domain.errors import ExchangeError
from apps.exchange.models import Instrument
from apps.execution.domain.trailing import TrailingConfig
from apps.orders.models import Order
from apps.orders.services import order_apply_report
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
from apps.trading.models import Position
from apps.trading.paper import instrument_info


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
    request = flatten_order(
        bot_key=f"b{ctx.bot.pk}", symbol=symbol, quantity=position.quantity, now=ctx.now
    )
    _send(ctx, request, purpose="emergency")
    logger.warning("bot %s %s flattened: %s", ctx.bot.name, symbol, reason)
