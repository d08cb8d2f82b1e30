"""Pure trade and position arithmetic for fills (one-way mode), and per-bot client order ids.

Rules (the same as the simulated exchange's ledger, so the database and the venue agree):
- A position's quantity is signed: long > 0, short < 0. A BUY fill adds, a SELL subtracts.
- Opening or adding averages the entry price, weighted by quantity.
- Reducing leaves the entry price alone and realizes `(price - entry) * closed` for a long,
  `(entry - price) * closed` for a short, rounded half-even to 8 decimals like the venue's USDT.
- A fill through zero closes the old position, then opens the remainder at the fill price.
- ROI of a trade = net PnL / (entry notional / leverage) x 100, where entry notional is the
  trade's largest size times its entry price, and net = realized - fees - funding.
- Slippage in basis points is positive when the achieved price is worse for us than expected:
  BUY `(avg - expected) / expected * 10_000`, SELL `(expected - avg) / expected * 10_000`.
- A trade's exit price is the quantity-weighted average of its exit fills; the fill that makes
  the position flat (or flips it) closes the trade, with the exit reason of the order's purpose.
  A flip fill's fee is shared between the closing and the opening part, pro rata.

The trade and position functions below change any object with the named attributes: the
database rows (`apps.trading.bookkeeping`) and the in-memory records of the exchange-mode backtest
(`apps.backtest.exchange_mode.domain`), so both book a fill the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Protocol

from apps.exchange.domain.ids import client_order_id
from apps.exchange.domain.types import Side

ZERO = Decimal(0)
MONEY_QUANTUM = Decimal("1E-8")
PRICE_QUANTUM = Decimal("1E-12")  # the database keeps 12 decimal places
ROI_QUANTUM = Decimal("1E-6")
BPS_QUANTUM = Decimal("1E-4")

LONG, SHORT = "LONG", "SHORT"  # a trade's / position's side (trading.Direction values)
OPEN, CLOSED = "OPEN", "CLOSED"  # a trade's status (Trade.Status values)
# The exit reason (Trade.ExitReason value) of the fill that closes a trade, by the purpose
# (Order.Purpose value) of its order; anything else is a strategy signal.
EXIT_REASON_BY_PURPOSE: dict[str, str] = {
    "entry": "signal",  # an entry that flips the position
    "exit": "signal",
    "stop_loss": "stop_loss",
    "take_profit": "take_profit",
    "trailing_stop": "trailing",
    "emergency": "kill_switch",
    "liquidation": "liquidation",
}
DEFAULT_EXIT_REASON = "signal"
# Purposes of the orders that exist only to end a trade (its stop, take-profits, trailing stop,
# a signal exit): they belong to one trade and must die with it.
EXIT_PURPOSES = ("stop_loss", "take_profit", "trailing_stop", "exit")


def exit_order_orphaned(
    *, order_trade: object | None, open_trade: object | None, flat: bool
) -> bool:
    """True when an open exit order has outlived its trade and must be canceled.

    ``order_trade`` is the trade the order was placed for (None when unknown: then it is an
    orphan once the position is flat), ``open_trade`` the trade open now (None when none).
    """
    if order_trade is None:
        return flat
    return order_trade != open_trade


def money(value: Decimal) -> Decimal:
    """Round an amount of the quote asset to 8 decimals, half-even (as Binance reports USDT)."""
    return value.quantize(MONEY_QUANTUM, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class PositionChange:
    """What one fill does to a one-way position."""

    qty_before: Decimal  # signed
    entry_before: Decimal
    qty_after: Decimal  # signed
    entry_after: Decimal  # 0 when flat
    closed_qty: Decimal  # unsigned part of the fill that reduced the old position
    opened_qty: Decimal  # unsigned part that opened or added to a position
    realized_pnl: Decimal

    @property
    def opens(self) -> bool:
        """True when the fill starts a new position (from flat, or the far side of a flip)."""
        return self.opened_qty > 0 and (self.qty_before == 0 or self.flips)

    @property
    def flips(self) -> bool:
        return (
            self.qty_before != 0
            and self.qty_after != 0
            and ((self.qty_before > 0) != (self.qty_after > 0))
        )

    @property
    def closes(self) -> bool:
        """True when the old position ends here (made flat, or flipped)."""
        return self.qty_before != 0 and (self.qty_after == 0 or self.flips)


def position_apply_fill(
    *, qty: Decimal, entry: Decimal, side: Side, fill_qty: Decimal, price: Decimal
) -> PositionChange:
    """Return the change a fill of `fill_qty` at `price` makes to a position of signed `qty`.

    Raise ValueError for a non-positive fill quantity or price.
    """
    if fill_qty <= 0 or price <= 0:
        raise ValueError(f"a fill needs a positive quantity and price, got {fill_qty} @ {price}")
    signed = fill_qty * Side(side).sign
    if qty == 0 or (qty > 0) == (signed > 0):
        new_qty = qty + signed
        new_entry = (entry * abs(qty) + price * fill_qty) / abs(new_qty)
        return PositionChange(
            qty_before=qty,
            entry_before=entry,
            qty_after=new_qty,
            entry_after=new_entry.quantize(PRICE_QUANTUM, rounding=ROUND_HALF_EVEN),
            closed_qty=ZERO,
            opened_qty=fill_qty,
            realized_pnl=ZERO,
        )
    closed = min(fill_qty, abs(qty))
    direction = 1 if qty > 0 else -1
    realized = money((price - entry) * closed * direction)
    new_qty = qty + signed
    opened = fill_qty - closed
    if new_qty == 0:
        new_entry = ZERO
    elif opened > 0:
        new_entry = price
    else:
        new_entry = entry
    return PositionChange(
        qty_before=qty,
        entry_before=entry,
        qty_after=new_qty,
        entry_after=new_entry,
        closed_qty=closed,
        opened_qty=opened,
        realized_pnl=realized,
    )


def trade_roi_percent(
    *, net_pnl: Decimal, entry_price: Decimal, quantity: Decimal, leverage: int
) -> Decimal | None:
    """Return net PnL over the initial margin in percent; None when the margin is zero."""
    margin = entry_price * quantity / Decimal(max(leverage, 1))
    if margin <= 0:
        return None
    return (net_pnl / margin * 100).quantize(ROI_QUANTUM, rounding=ROUND_HALF_EVEN)


def slippage_bps(*, side: Side, expected: Decimal, achieved: Decimal) -> Decimal | None:
    """Return the achieved-vs-expected price gap in bps, positive = worse; None if unknown."""
    if expected <= 0 or achieved <= 0:
        return None
    gap = achieved - expected if Side(side) is Side.BUY else expected - achieved
    return (gap / expected * 10_000).quantize(BPS_QUANTUM, rounding=ROUND_HALF_EVEN)


def bot_client_id_prefix(bot_id: int) -> tuple[str, str]:
    """Return the prefixes a client order id of bot `bot_id` starts with, for `str.startswith`:
    `b<id>-` for a flat intent, `b<id>_` when an intent id is itself a part (the execution
    kernel's slices and stops: `ids.client_order_id` writes a nested id's dashes as `_`)."""
    return (f"b{bot_id}-", f"b{bot_id}_")


def bot_client_order_id(bot_id: int, *parts: str | int) -> str:
    """Return the deterministic client order id of one intent of bot `bot_id`.

    The readable part starts with `bot_client_id_prefix(bot_id)`, so reconciliation can tell
    the bot's orders on the exchange from anyone else's.
    """
    return client_order_id(f"b{bot_id}", *parts)


def split_fee(
    *, fee: Decimal, fill_qty: Decimal, change: PositionChange
) -> tuple[Decimal, Decimal]:
    """Return the (closing, opening) parts of a fill's fee: pro rata for a flip."""
    if change.closed_qty and change.opened_qty:
        closing = money(fee * change.closed_qty / fill_qty)
        return closing, fee - closing
    if change.closed_qty:
        return fee, ZERO
    return ZERO, fee


class TradeRecord(Protocol):
    """What the trade functions read and write (a `Trade` row, or an in-memory record)."""

    side: Any
    status: Any
    quantity: Decimal
    remaining_quantity: Decimal
    entry_price: Decimal
    exit_price: Decimal | None
    leverage: int
    exit_time: datetime | None
    exit_reason: Any
    roi: Decimal | None
    fees: Decimal
    funding: Decimal
    realized_pnl: Decimal


class PositionRecord(Protocol):
    """What `position_update` writes (a `Position` row, or an in-memory record)."""

    quantity: Decimal
    side: Any
    entry_price: Decimal
    mark_price: Decimal | None
    unrealized_pnl: Decimal
    leverage: int
    stop_price: Decimal | None
    liquidation_price: Decimal | None


def trade_open_values(change: PositionChange, *, fee: Decimal) -> dict[str, Any]:
    """The fields of the trade a fill opens (side, size, entry price, the opening fee)."""
    size = abs(change.qty_after)
    return {
        "side": LONG if change.qty_after > 0 else SHORT,
        "quantity": size,
        "remaining_quantity": size,
        "entry_price": change.entry_after,
        "fees": fee,
    }


def trade_add(trade: TradeRecord, change: PositionChange, *, fee: Decimal) -> None:
    """A fill adds to the open trade: new average entry, largest size, the fee."""
    size = abs(change.qty_after)
    trade.entry_price = change.entry_after
    trade.quantity = max(trade.quantity, size)
    trade.remaining_quantity = size
    trade.fees += fee


def trade_reduce(
    trade: TradeRecord,
    change: PositionChange,
    *,
    price: Decimal,
    fee: Decimal,
    time: datetime,
    purpose: str,
    prior_exit_qty: Decimal,
    prior_exit_notional: Decimal,
) -> None:
    """A fill reduces (or ends) the open trade. `prior_exit_qty` / `prior_exit_notional`: the
    quantity and sum of price x quantity of the trade's earlier exit-side fills."""
    exit_qty = prior_exit_qty + change.closed_qty
    trade.exit_price = ((prior_exit_notional + price * change.closed_qty) / exit_qty).quantize(
        PRICE_QUANTUM
    )
    trade.realized_pnl += change.realized_pnl
    trade.fees += fee
    trade.remaining_quantity = ZERO if change.closes else abs(change.qty_after)
    if change.closes:
        trade.status = CLOSED
        trade.exit_time = time
        trade.exit_reason = EXIT_REASON_BY_PURPOSE.get(purpose, DEFAULT_EXIT_REASON)
        trade.roi = trade_roi_percent(
            net_pnl=trade.realized_pnl - trade.fees - trade.funding,
            entry_price=trade.entry_price,
            quantity=trade.quantity,
            leverage=trade.leverage,
        )


def position_update(
    position: PositionRecord, change: PositionChange, *, price: Decimal, leverage: int
) -> None:
    """Bring the position to what the fill left (marked at the fill price)."""
    qty = change.qty_after
    position.quantity = qty
    position.side = LONG if qty > 0 else SHORT if qty < 0 else ""
    position.entry_price = change.entry_after
    position.mark_price = price
    position.unrealized_pnl = money((price - change.entry_after) * qty) if qty else ZERO
    if change.opens:
        position.leverage = leverage
    if change.closes:
        position.stop_price = None  # the stop belonged to the position that just ended
        position.liquidation_price = None


def position_mark(position: PositionRecord, *, price: Decimal) -> bool:
    """Mark an open position to the market ``price`` (unrealized PnL at 8 decimals); return
    True when that changed it. A flat position, or no price, is left alone."""
    if position.quantity == 0 or price <= 0:
        return False
    pnl = money((price - position.entry_price) * position.quantity)
    if position.mark_price == price and position.unrealized_pnl == pnl:
        return False
    position.mark_price = price
    position.unrealized_pnl = pnl
    return True
