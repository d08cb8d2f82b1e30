"""Writes of execution: orders, their status reports, and fills with the trade/position change.

Each public function is one transaction. Dashboard events (`order`, `fill`, `position`,
`trade_opened`, `trade_closed`) go through `publish_event`, which sends them only after the
outermost transaction commits, so a rolled-back change is never broadcast.

The arithmetic lives in `apps.orders.domain.accounting` (pure); this module loads rows, locks
them (`select_for_update`, order row first, then the position, then the trade), applies the
arithmetic and writes the results.

Position rows hold a *signed* quantity (long > 0, short < 0, as the venue reports it) and a
`side` (LONG / SHORT / "" when flat) derived from its sign.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import DecimalField, F, Sum

from apps.bots.models import Bot
from apps.core.domain.formatting import plain
from apps.events import publish_event
from apps.exchange.domain.types import Fill as VenueFill
from apps.exchange.domain.types import OrderReport, OrderRequest, Side, require_utc
from apps.orders.domain.accounting import (
    PRICE_QUANTUM,
    PositionChange,
    position_apply_fill,
    position_mark,
    position_update,
    slippage_bps,
    split_fee,
    trade_add,
    trade_open_values,
    trade_reduce,
)
from apps.orders.domain.adoption import (
    infer_purpose,
    is_liquidation_id,
    liquidation_client_id,
    request_from_report,
)
from apps.orders.domain.state import (
    OrderStatus,
    is_terminal,
    report_stale_reason,
    report_target_status,
)
from apps.orders.models import Fill, Order
from apps.trading.models import Direction, Position, Trade

logger = logging.getLogger(__name__)

ZERO = Decimal(0)

_REALIZED_TOLERANCE = Decimal("0.01")


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
    trade: Trade | None = None,
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
    trade: Trade | None = None,
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


def order_adopt(*, bot: Bot, report: OrderReport, at: datetime) -> Order:
    """Record an order of the bot seen only on the venue and bring it up to ``report``.

    The bot's own order whose row was lost keeps its client id; an exchange liquidation
    (``autoclose-...``) is recorded under ``liquidation_client_id`` with purpose
    ``liquidation``. An exit order is bound to the bot's open trade. Idempotent.
    """
    purpose = infer_purpose(report)
    cid = report.client_order_id
    if is_liquidation_id(cid):
        cid = liquidation_client_id(f"b{bot.pk}", cid)
        report = replace(report, client_order_id=cid)
    trade = None
    if purpose != Order.Purpose.ENTRY:
        trade = (
            Trade.objects.filter(bot=bot, symbol=report.symbol, status=Trade.Status.OPEN)
            .order_by("-entry_time", "-id")
            .first()
        )
    order = order_create(
        bot=bot,
        request=request_from_report(report, client_order_id=cid),
        purpose=purpose,
        trade=trade,
    )
    logger.warning("bot %s: adopted %s %s from the venue", bot.name, purpose, cid)
    return order_apply_report(order=order, report=report, at=at)


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
def fill_apply(*, order: Order, fill: VenueFill, at: datetime) -> Fill | None:
    """Record a venue fill and the trade and position change it causes, in one transaction.

    Idempotent by (order, venue trade id): a fill seen before returns None and changes
    nothing. An opening fill opens a Trade, adding fills average its entry, reducing fills
    realize PnL and average the exit price, and the fill that makes the position flat (or
    flips it) closes the trade with exit time, exit reason (from the order's purpose) and ROI.
    Raise ValueError when the fill's symbol or side does not match the order, or the order
    is a hedge-mode leg.
    """
    require_utc(at, "at")
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
    venue_trade_id = str(fill.trade_id)
    with transaction.atomic():
        locked = Order.objects.select_for_update().select_related("bot__strategy").get(pk=order.pk)
        if Fill.objects.filter(order=locked, exchange_trade_id=venue_trade_id).exists():
            logger.debug("order %s: fill %s already applied", order.client_order_id, fill.trade_id)
            return None
        bot = locked.bot
        position, _ = Position.objects.select_for_update().get_or_create(
            bot=bot, symbol=locked.symbol, defaults={"leverage": bot.leverage}
        )
        trade = (
            Trade.objects.select_for_update()
            .filter(bot=bot, symbol=locked.symbol, status=Trade.Status.OPEN)
            .order_by("-entry_time", "-id")
            .first()
        )
        change = position_apply_fill(
            qty=position.quantity,
            entry=position.entry_price,
            side=fill.side,
            fill_qty=fill.qty,
            price=fill.price,
        )
        if _fills_another_trade(locked, trade):
            # An exit order of a trade that has ended: the venue moved the position, but the
            # fill is never booked to the trade open now (it is not that trade's order).
            _alert_foreign_fill(locked, fill, trade)
            trade = None
        _warn_on_realized_mismatch(locked, fill, change)
        fee_close, fee_open = split_fee(fee=fill.fee, fill_qty=fill.qty, change=change)
        closed_trade = opened_trade = None
        if change.closed_qty > 0:
            if trade is None:
                logger.warning(
                    "bot %s %s: fill %s reduces a position with no open trade; "
                    "trade accounting skipped for it",
                    bot.name,
                    locked.symbol,
                    fill.trade_id,
                )
            else:
                _trade_reduce(trade, change, fill=fill, fee=fee_close, purpose=locked.purpose)
                if change.closes:
                    closed_trade = trade
        if change.opened_qty > 0:
            if change.opens or trade is None:
                trade = opened_trade = _trade_open(bot, locked.symbol, change, fill, fee_open)
            else:
                _trade_add(trade, change, fee=fee_open)
        row = Fill.objects.create(
            order=locked,
            trade=closed_trade or trade or locked.trade,
            exchange_trade_id=venue_trade_id,
            price=fill.price,
            quantity=fill.qty,
            fee=fill.fee,
            fee_asset=fill.fee_asset,
            is_maker=fill.is_maker,
            realized_pnl=change.realized_pnl,
            filled_at=fill.time,
        )
        _position_update(position, change, bot=bot, price=fill.price)
        if locked.trade_id is None and (opened_trade or trade) is not None:
            locked.trade = opened_trade or trade
            locked.save(update_fields=["trade", "updated_at"])
        _publish_fill(row, position, closed_trade, opened_trade, at=at)
    return row


def _fills_another_trade(order: Order, open_trade: Trade | None) -> bool:
    """True for an exit order bound to a trade that is not the open one (it has ended)."""
    if order.trade_id is None or order.purpose == Order.Purpose.ENTRY:
        return False
    return open_trade is None or open_trade.pk != order.trade_id


def _alert_foreign_fill(order: Order, fill: VenueFill, open_trade: Trade | None) -> None:
    message = (
        f"exit order {order.client_order_id} of ended trade {order.trade_id} filled "
        f"{fill.qty} {order.symbol} (venue trade {fill.trade_id}); not booked to "
        f"{'trade ' + str(open_trade.pk) if open_trade else 'any trade'}"
    )
    logger.error("bot %s: %s", order.bot.name, message)
    publish_event(
        "alert",
        {
            "bot": order.bot.name,
            "level": "critical",
            "message": message,
            "at": fill.time.isoformat(),
        },
    )


def _warn_on_realized_mismatch(order: Order, fill: VenueFill, change: PositionChange) -> None:
    if fill.realized_pnl and abs(fill.realized_pnl - change.realized_pnl) > _REALIZED_TOLERANCE:
        logger.warning(
            "order %s fill %s: venue realized %s, ours %s (is the position in sync?)",
            order.client_order_id,
            fill.trade_id,
            fill.realized_pnl,
            change.realized_pnl,
        )


def _trade_open(
    bot: Bot, symbol: str, change: PositionChange, fill: VenueFill, fee: Decimal
) -> Trade:
    return Trade.objects.create(
        bot=bot,
        symbol=symbol,
        mode=bot.strategy.mode,
        leverage=bot.leverage,
        entry_time=fill.time,
        **trade_open_values(change, fee=fee),
    )


def _trade_add(trade: Trade, change: PositionChange, *, fee: Decimal) -> None:
    trade_add(trade, change, fee=fee)
    trade.save()


def _trade_reduce(
    trade: Trade, change: PositionChange, *, fill: VenueFill, fee: Decimal, purpose: str
) -> None:
    exit_side = Order.Side.SELL if trade.side == Direction.LONG else Order.Side.BUY
    notional = F("price") * F("quantity")
    prior = Fill.objects.filter(trade=trade, order__side=exit_side).aggregate(
        qty=Sum("quantity"),
        notional=Sum(notional, output_field=DecimalField(max_digits=40, decimal_places=24)),
    )
    trade_reduce(
        trade,
        change,
        price=fill.price,
        fee=fee,
        time=fill.time,
        purpose=purpose,
        prior_exit_qty=prior["qty"] or ZERO,
        prior_exit_notional=prior["notional"] or ZERO,
    )
    trade.save()


def _position_update(
    position: Position, change: PositionChange, *, bot: Bot, price: Decimal
) -> None:
    position_update(position, change, price=price, leverage=bot.leverage)
    position.save()


def position_mark_to_market(*, bot: Bot, symbol: str, price: Decimal) -> Position | None:
    """Mark the bot's open position in ``symbol`` to ``price`` and announce it when it changed;
    return the row (None when flat)."""
    with transaction.atomic():
        row = (
            Position.objects.select_for_update()
            .filter(bot=bot, symbol=symbol)
            .exclude(quantity=0)
            .first()
        )
        if row is None or not position_mark(row, price=price):
            return row
        row.save(update_fields=["mark_price", "unrealized_pnl", "updated_at"])
        data = _jsonable(row, ("side", "quantity", "entry_price", "mark_price", "unrealized_pnl"))
        publish_event("position", {"bot": bot.name, "symbol": symbol, **data})
    return row


# --- events ------------------------------------------------------------------------------------
def _publish_fill(
    row: Fill,
    position: Position,
    closed_trade: Trade | None,
    opened_trade: Trade | None,
    *,
    at: datetime,
) -> None:
    order = row.order
    ident = {"bot": order.bot.name, "symbol": order.symbol}
    fill_data = _jsonable(order, ("client_order_id", "purpose", "side"))
    fill_data |= _jsonable(row, ("price", "quantity", "fee", "realized_pnl", "filled_at"))
    publish_event("fill", {**ident, **fill_data, "applied_at": at.isoformat()})
    position_data = _jsonable(
        position, ("side", "quantity", "entry_price", "mark_price", "unrealized_pnl")
    )
    publish_event("position", {**ident, **position_data})
    if closed_trade is not None:
        publish_event("trade_closed", _trade_data(closed_trade))
    if opened_trade is not None:
        publish_event("trade_opened", _trade_data(opened_trade))


_ORDER_FIELDS = ("bot_id", "symbol", "client_order_id", "purpose", "type", "side", "status")
_ORDER_FIELDS += ("quantity", "filled_quantity", "average_price", "slippage_bps")
_TRADE_FIELDS = ("id", "bot_id", "symbol", "side", "status", "quantity", "entry_price")
_TRADE_FIELDS += ("exit_price", "entry_time", "exit_time", "realized_pnl", "fees", "roi")
_TRADE_FIELDS += ("exit_reason",)


def _jsonable(row: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """Return the row's fields for an event: Decimals as exact strings without trailing zeros
    or an exponent ("0", not "0E-12"), datetimes in ISO 8601."""
    out: dict[str, Any] = {}
    for name in fields:
        value = getattr(row, name)
        if isinstance(value, Decimal):
            value = plain(value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        out[name] = value
    return out


def _order_data(order: Order) -> dict[str, Any]:
    return _jsonable(order, _ORDER_FIELDS)


def _trade_data(trade: Trade) -> dict[str, Any]:
    return _jsonable(trade, _TRADE_FIELDS)
