"""Writes of execution: orders, their status reports, and the rows of their fills.

Each public order function is one transaction. Dashboard events (`order`, `fill`) go through
`publish_event`, which sends them only after the outermost transaction commits, so a
rolled-back change is never broadcast.

Trades and positions belong to `apps.trading` (the layer above): a fill is booked by
`apps.trading.bookkeeping.fill_apply`, which calls the fill functions below inside its own
transaction (order row locked first, then the position, then the trade). This module never
imports `apps.trading`; an order's trade is the `trading.Trade` the caller hands in.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Model

from apps.bots.models import Bot
from apps.core.domain.formatting import event_fields
from apps.events import publish_event
from apps.exchange.domain.types import Fill as VenueFill
from apps.exchange.domain.types import OrderReport, OrderRequest, Side, require_utc
from apps.orders.domain.accounting import PRICE_QUANTUM, slippage_bps
from apps.orders.domain.state import (
    OrderStatus,
    is_terminal,
    report_stale_reason,
    report_target_status,
)
from apps.orders.models import Fill, Order

logger = logging.getLogger(__name__)

ZERO = Decimal(0)


def missing_grace() -> timedelta:
    """How long an order the venue does not show may still be in flight: a request held by the
    network or the venue can still be placed for a while (``ORDER_MISSING_GRACE_S``)."""
    return timedelta(seconds=settings.ORDER_MISSING_GRACE_S)


class OrderCreateError(ValueError):
    """The order cannot be recorded (no client id, unknown purpose, id of another bot)."""


# --- orders ------------------------------------------------------------------------------------
def order_create(
    *,
    bot: Bot,
    request: OrderRequest,
    purpose: str,
    trade: Model | None = None,
    expected_price: Decimal | None = None,
) -> Order:
    """Record an order we are about to send, as PENDING_NEW; idempotent by client order id.

    The same client id returns the existing row unchanged. Raise `OrderCreateError` when the
    request has no client id, the purpose is unknown or the id belongs to another bot.
    """
    order, _ = order_record(
        bot=bot, request=request, purpose=purpose, trade=trade, expected_price=expected_price
    )
    return order


def order_record(
    *,
    bot: Bot,
    request: OrderRequest,
    purpose: str,
    trade: Model | None = None,
    expected_price: Decimal | None = None,
) -> tuple[Order, bool]:
    """`order_create`, also saying whether the row is new (True) or was recorded before.

    Only a caller that created the row may send the order: a row recorded before (a crashed or
    retried attempt) may already be on the venue, and is looked up there instead.
    """
    cid = request.client_order_id
    if not cid:
        raise OrderCreateError(
            f"{request.symbol} {request.side} {request.type}: an order needs a deterministic "
            "client_order_id before it is recorded"
        )
    if purpose not in Order.Purpose.values:
        raise OrderCreateError(f"unknown order purpose {purpose!r}")
    existing = _existing_order(bot=bot, client_order_id=cid)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            order = Order.objects.create(
                bot=bot,
                trade=trade,
                symbol=request.symbol,
                client_order_id=cid,
                purpose=purpose,
                type=request.type.value,
                side=request.side.value,
                position_side=request.position_side.value,
                time_in_force=(tif.value if (tif := request.effective_time_in_force) else ""),
                reduce_only=request.reduce_only,
                close_position=request.close_position,
                price=request.price,
                trigger_price=request.trigger_price,
                quantity=request.quantity or ZERO,
                expected_price=expected_price,
            )
            publish_event("order", _order_data(order))
    except IntegrityError:  # a concurrent writer recorded the same intent first
        existing = _existing_order(bot=bot, client_order_id=cid)
        if existing is None:
            raise
        return existing, False
    return order, True


def _existing_order(*, bot: Bot, client_order_id: str) -> Order | None:
    existing = Order.objects.filter(client_order_id=client_order_id).first()
    if existing is not None and existing.bot_id != bot.pk:
        raise OrderCreateError(
            f"client order id {client_order_id} already belongs to bot {existing.bot_id}"
        )
    return existing


def order_apply_report(*, order: Order, report: OrderReport, at: datetime) -> Order:
    """Bring the order up to the venue's report and return the fresh row.

    Status moves only along the transition table; a report that would need an illegal move
    (stale or out of order, e.g. NEW after FILLED) or that shows less filled than we already
    know is ignored with a log line (venue ids are still recorded). Slippage against the
    order's `expected_price` is recomputed from the average price. Raise ValueError when the
    report is for another client order id.
    """
    require_utc(at, "at")
    if report.client_order_id != order.client_order_id:
        raise ValueError(
            f"report for {report.client_order_id} applied to order {order.client_order_id}"
        )
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        ids_changed = _merge_venue_ids(locked, report)
        target = _target_status(locked, report)
        stale = _stale_reason(locked, report, target)
        if stale:
            logger.info(
                "order %s: ignored %s report (filled %s): %s",
                locked.client_order_id,
                report.status,
                report.filled_qty,
                stale,
            )
            if ids_changed:
                locked.save()
            return locked
        numbers_changed = _merge_fill_numbers(locked, report)
        if target != locked.status or (target == OrderStatus.PARTIALLY_FILLED and numbers_changed):
            locked.transition_to(target, at=at, detail=f"venue report {report.status}")
        elif numbers_changed or ids_changed:
            locked.save()
        else:
            return locked  # a duplicate report: nothing to write, nothing to announce
        publish_event("order", _order_data(locked))
    return locked


def _merge_venue_ids(order: Order, report: OrderReport) -> bool:
    changed = False
    if report.order_id is not None and order.exchange_order_id != str(report.order_id):
        order.exchange_order_id = str(report.order_id)
        changed = True
    if report.algo_id is not None and order.algo_id != str(report.algo_id):
        order.algo_id = str(report.algo_id)
        changed = True
    if order.close_position and not order.quantity and report.quantity:
        order.quantity = report.quantity
        changed = True
    return changed


def _target_status(order: Order, report: OrderReport) -> OrderStatus:
    return report_target_status(order.status, report)


def _stale_reason(order: Order, report: OrderReport, target: OrderStatus) -> str:
    return report_stale_reason(order.status, order.filled_quantity, report, target)


def _merge_fill_numbers(order: Order, report: OrderReport) -> bool:
    if report.filled_qty <= order.filled_quantity:
        return False
    order.filled_quantity = report.filled_qty
    if report.avg_price > 0:
        order.average_price = report.avg_price.quantize(PRICE_QUANTUM)
        if order.expected_price:
            order.slippage_bps = slippage_bps(
                side=Side(order.side), expected=order.expected_price, achieved=report.avg_price
            )
    return True


def order_close_missing(*, order: Order, at: datetime, grace: timedelta | None = None) -> Order:
    """Close an open order the venue does not know (any more); return the fresh row.

    A pending cancel becomes CANCELED, anything else EXPIRED (never sent, or canceled and
    purged by the venue). Orders younger than `grace` are left alone: the venue may not show
    an order it is still accepting.
    """
    require_utc(at, "at")
    grace = missing_grace() if grace is None else grace
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if is_terminal(locked.status) or at - locked.created_at < grace:
            return locked
        target = (
            OrderStatus.CANCELED
            if locked.status == OrderStatus.PENDING_CANCEL
            else OrderStatus.EXPIRED
        )
        locked.transition_to(target, at=at, detail="not found on the exchange")
        publish_event("order", _order_data(locked))
    logger.warning("order %s: not on the exchange, marked %s", locked.client_order_id, target)
    return locked


def order_reject(*, order: Order, at: datetime, reason: str, code: int | None = None) -> Order:
    """Mark an order the venue refused as REJECTED (only from PENDING_NEW); return the row."""
    require_utc(at, "at")
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if locked.status != OrderStatus.PENDING_NEW:
            logger.info("order %s: rejection ignored in %s", locked.client_order_id, locked.status)
            return locked
        locked.reject_code = code
        locked.reject_reason = reason[:255]
        locked.transition_to(OrderStatus.REJECTED, at=at, detail=reason)
        publish_event("order", _order_data(locked))
    return locked


# --- fills -------------------------------------------------------------------------------------
# A fill is booked by `apps.trading.bookkeeping.fill_apply`, the one writer of trades and
# positions: inside its transaction it calls `fill_lock`, books the trade and position change,
# then `fill_record`, `order_bind_trade` and `fill_publish` below, so the fill row and what it
# causes commit together or not at all.
def fill_lock(*, order: Order, fill: VenueFill) -> Order | None:
    """Lock ``order`` for booking ``fill`` and return the locked row (its bot and strategy
    loaded), or None when the fill was recorded before (idempotent by venue trade id).

    Call inside a transaction. Raise ValueError when the fill's symbol or side does not match
    the order, or the order is a hedge-mode leg.
    """
    require_utc(fill.time, "fill time")
    if fill.symbol != order.symbol or fill.side.value != order.side:
        raise ValueError(
            f"fill {fill.trade_id} ({fill.symbol} {fill.side}) does not belong to order "
            f"{order.client_order_id} ({order.symbol} {order.side})"
        )
    if order.position_side != Order.PositionSide.BOTH:
        raise ValueError(
            f"order {order.client_order_id}: hedge-mode ({order.position_side}) fills are not "
            "supported; positions are one-way (one row per bot and symbol)"
        )
    locked = Order.objects.select_for_update().select_related("bot__strategy").get(pk=order.pk)
    if Fill.objects.filter(order=locked, exchange_trade_id=str(fill.trade_id)).exists():
        logger.debug("order %s: fill %s already applied", order.client_order_id, fill.trade_id)
        return None
    return locked


def fill_record(
    *, order: Order, fill: VenueFill, trade_id: int | None, realized_pnl: Decimal
) -> Fill:
    """Write the row of a venue fill of the locked ``order``, booked to trade ``trade_id``."""
    return Fill.objects.create(
        order=order,
        trade_id=trade_id,
        exchange_trade_id=str(fill.trade_id),
        price=fill.price,
        quantity=fill.qty,
        fee=fill.fee,
        fee_asset=fill.fee_asset,
        is_maker=fill.is_maker,
        realized_pnl=realized_pnl,
        filled_at=fill.time,
    )


def order_bind_trade(*, order: Order, trade: Model) -> None:
    """Bind the locked ``order`` (a `trading.Trade`'s first order) to ``trade``."""
    order.trade = trade  # type: ignore[assignment]  # the trading.Trade, typed from below
    order.save(update_fields=["trade", "updated_at"])


def fill_publish(row: Fill, *, at: datetime) -> None:
    """Announce the fill (after commit)."""
    order = row.order
    data = event_fields(order, ("client_order_id", "purpose", "side"))
    data |= event_fields(row, ("price", "quantity", "fee", "realized_pnl", "filled_at"))
    publish_event(
        "fill",
        {"bot": order.bot.name, "symbol": order.symbol, **data, "applied_at": at.isoformat()},
    )


# --- events ------------------------------------------------------------------------------------
_ORDER_FIELDS = ("bot_id", "symbol", "client_order_id", "purpose", "type", "side", "status")
_ORDER_FIELDS += ("quantity", "filled_quantity", "average_price", "slippage_bps")


def _order_data(order: Order) -> dict[str, Any]:
    return event_fields(order, _ORDER_FIELDS)
