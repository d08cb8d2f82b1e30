"""Mutable order records of the simulator and the rule for when a price leg reaches them.

Trigger rules (mark price = trade price in the simulator):
- LIMIT BUY at P fills when the price trades below P (or touches it with `fill_on_touch`), at P,
  as maker; a LIMIT SELL mirrors it.
- STOP_MARKET BUY / TAKE_PROFIT_MARKET SELL trigger when the price rises to the trigger;
  STOP_MARKET SELL / TAKE_PROFIT_MARKET BUY when it falls to it.
- TRAILING_STOP_MARKET SELL tracks the highest price since placement; once that reached the
  activation price (or at once without one) it triggers when the price falls to
  `highest * (1 - callback_rate / 100)`. A BUY tracks the lowest price and triggers at
  `lowest * (1 + callback_rate / 100)`.
- A triggered order executes at its trigger level, or at the leg's start when the leg began
  beyond it, or at the open when a gap jumped over it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from ..types import ZERO, OrderReport, OrderRequest, OrderStatus, OrderType, Side

_HUNDRED = Decimal(100)


@dataclass(slots=True)
class SimOrder:
    request: OrderRequest
    client_order_id: str
    seq: int
    created_at: datetime
    updated_at: datetime
    order_id: int | None = None
    algo_id: int | None = None
    status: OrderStatus = OrderStatus.NEW
    filled_qty: Decimal = ZERO
    cost: Decimal = ZERO
    extreme: Decimal | None = None  # trailing: highest (SELL) / lowest (BUY) since placement

    @property
    def symbol(self) -> str:
        return self.request.symbol

    @property
    def side(self) -> Side:
        return self.request.side

    @property
    def type(self) -> OrderType:
        return self.request.type

    @property
    def remaining(self) -> Decimal | None:
        """Unfilled quantity; None for a close-position order (sized at trigger)."""
        if self.request.quantity is None:
            return None
        return self.request.quantity - self.filled_qty

    def record_fill(self, price: Decimal, qty: Decimal, time: datetime) -> None:
        self.filled_qty += qty
        self.cost += price * qty
        self.updated_at = time
        if self.request.quantity is None or self.filled_qty >= self.request.quantity:
            self.status = OrderStatus.FILLED
        else:
            self.status = OrderStatus.PARTIALLY_FILLED

    def finish(self, status: OrderStatus, time: datetime) -> None:
        self.status = status
        self.updated_at = time

    def report(self) -> OrderReport:
        r = self.request
        return OrderReport(
            symbol=r.symbol,
            client_order_id=self.client_order_id,
            side=r.side,
            type=r.type,
            status=self.status,
            quantity=r.quantity,
            filled_qty=self.filled_qty,
            avg_price=self.cost / self.filled_qty if self.filled_qty else ZERO,
            price=r.price,
            trigger_price=r.trigger_price,
            time_in_force=r.effective_time_in_force,
            reduce_only=r.reduce_only,
            close_position=r.close_position,
            position_side=r.position_side,
            activation_price=r.activation_price,
            callback_rate=r.callback_rate,
            order_id=self.order_id,
            algo_id=self.algo_id,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )

    # --- triggers ------------------------------------------------------------------------------
    def trailing_level(self) -> Decimal | None:
        """Current trigger level of a trailing stop, or None while not activated."""
        r = self.request
        if self.extreme is None or r.callback_rate is None:
            return None
        if r.side is Side.SELL:
            if r.activation_price is not None and self.extreme < r.activation_price:
                return None
            return self.extreme * (1 - r.callback_rate / _HUNDRED)
        if r.activation_price is not None and self.extreme > r.activation_price:
            return None
        return self.extreme * (1 + r.callback_rate / _HUNDRED)

    def track(self, a: Decimal, b: Decimal) -> None:
        """Move a trailing stop's extreme over a leg from `a` to `b`."""
        if self.type is not OrderType.TRAILING_STOP_MARKET or self.extreme is None:
            return
        if self.side is Side.SELL:
            self.extreme = max(self.extreme, a, b)
        else:
            self.extreme = min(self.extreme, a, b)

    def falls_to(self) -> bool:
        """True if the order triggers on a falling price, False on a rising one."""
        if self.type is OrderType.LIMIT:
            return self.side is Side.BUY
        if self.type is OrderType.TAKE_PROFIT_MARKET:
            return self.side is Side.BUY
        return self.side is Side.SELL  # STOP_MARKET, TRAILING_STOP_MARKET

    def level(self) -> Decimal | None:
        if self.type is OrderType.LIMIT:
            return self.request.price
        if self.type is OrderType.TRAILING_STOP_MARKET:
            return self.trailing_level()
        return self.request.trigger_price

    def would_trigger_at(self, price: Decimal) -> bool:
        """True if a conditional order placed now at market `price` would trigger at once."""
        level = self.level()
        if level is None or self.type is OrderType.LIMIT:
            return False
        return price <= level if self.falls_to() else price >= level


def leg_hit(
    level: Decimal, falls: bool, a: Decimal, b: Decimal, *, gap: bool, strict: bool = False
) -> tuple[Decimal, Decimal] | None:
    """Where a leg from `a` to `b` reaches `level`: (execution price, distance from `a`), or None.

    `falls` says the level is reached from above; `strict` requires trading through it (limit
    orders). On a gap leg the execution price is `b` (the open).
    """
    low, high = min(a, b), max(a, b)
    if falls:
        reached = low < level if strict else low <= level
        start_beyond = a < level if strict else a <= level
    else:
        reached = high > level if strict else high >= level
        start_beyond = a > level if strict else a >= level
    if not reached:
        return None
    if gap:
        return b, abs(a - level)
    if start_beyond:
        return a, ZERO
    return level, abs(a - level)
