"""The one writer of trades and positions: venue fills booked into them, positions marked to
market, and orders seen only on the venue adopted and bound to their trade.

`apps.orders` records orders and the rows of their fills; this module, the layer above it,
calls the order services inside its own transaction, so a fill row and the trade and position
change it causes commit together or not at all. Rows are locked in one order (the order row,
then the position, then the trade). Dashboard events (`fill`, `position`, `trade_closed`,
`trade_opened`, in that order) go through `publish_event`, which sends them only after the
outermost transaction commits, so a rolled-back change is never broadcast.

The arithmetic lives in `apps.orders.domain.accounting` (pure, shared with the in-memory
records of the exchange-mode backtest). Position rows hold a *signed* quantity (long > 0,
short < 0, as the venue reports it) and a `side` (LONG / SHORT / "" when flat) derived from its
sign.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction

from apps.bots.models import Bot
from apps.core.domain.formatting import event_fields
from apps.events import publish_event
from apps.exchange.domain.types import Fill as VenueFill
from apps.exchange.domain.types import OrderReport, require_utc
from apps.orders.domain.accounting import (
    PositionChange,
    position_apply_fill,
    position_mark,
    position_update,
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
from apps.orders.models import Fill, Order
from apps.orders.selectors import fill_totals_of_trade
from apps.orders.services import (
    fill_lock,
    fill_publish,
    fill_record,
    order_apply_report,
    order_bind_trade,
    order_create,
)
from apps.trading.models import Direction, Position, Trade

logger = logging.getLogger(__name__)

_REALIZED_TOLERANCE = Decimal("0.01")


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
    with transaction.atomic():
        locked = fill_lock(order=order, fill=fill)
        if locked is None:
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
        booked_to = closed_trade or trade
        row = fill_record(
            order=locked,
            fill=fill,
            trade_id=booked_to.pk if booked_to is not None else locked.trade_id,
            realized_pnl=change.realized_pnl,
        )
        _position_update(position, change, bot=bot, price=fill.price)
        if locked.trade_id is None and (opened_trade or trade) is not None:
            order_bind_trade(order=locked, trade=opened_trade or trade)
        fill_publish(row, at=at)
        _publish_booking(row.order, position, closed_trade, opened_trade)
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
            "code": "ended_trade_fill",
            "fields": {
                "cid": order.client_order_id,
                "trade": str(order.trade_id),
                "qty": str(fill.qty),
                "symbol": order.symbol,
                "venue_trade": str(fill.trade_id),
                "booked": f"trade {open_trade.pk}" if open_trade else "any trade",
            },
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
    prior_qty, prior_notional = fill_totals_of_trade(trade_id=trade.pk, side=exit_side)
    trade_reduce(
        trade,
        change,
        price=fill.price,
        fee=fee,
        time=fill.time,
        purpose=purpose,
        prior_exit_qty=prior_qty,
        prior_exit_notional=prior_notional,
    )
    trade.save()


def _position_update(
    position: Position, change: PositionChange, *, bot: Bot, price: Decimal
) -> None:
    position_update(position, change, price=price, leverage=bot.leverage)
    position.save()


# --- marks -------------------------------------------------------------------------------------
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
        data = event_fields(row, _POSITION_FIELDS)
        publish_event("position", {"bot": bot.name, "symbol": symbol, **data})
    return row


# --- orders seen only on the venue -------------------------------------------------------------
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


# --- events ------------------------------------------------------------------------------------
_POSITION_FIELDS = ("side", "quantity", "entry_price", "mark_price", "unrealized_pnl")
_TRADE_FIELDS = ("id", "bot_id", "symbol", "side", "status", "quantity", "entry_price")
_TRADE_FIELDS += ("exit_price", "entry_time", "exit_time", "realized_pnl", "fees", "roi")
_TRADE_FIELDS += ("exit_reason",)


def _publish_booking(
    order: Order, position: Position, closed_trade: Trade | None, opened_trade: Trade | None
) -> None:
    ident = {"bot": order.bot.name, "symbol": order.symbol}
    publish_event("position", {**ident, **event_fields(position, _POSITION_FIELDS)})
    if closed_trade is not None:
        publish_event("trade_closed", _trade_data(closed_trade))
    if opened_trade is not None:
        publish_event("trade_opened", _trade_data(opened_trade))


def _trade_data(trade: Trade) -> dict[str, Any]:
    return event_fields(trade, _TRADE_FIELDS)
