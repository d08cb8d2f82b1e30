"""Scale-out take-profits and the break-even stop move (the seed's `PartialExitManager`).

Distances are fractions of the entry price (0.01 = 1 % in the position's favour), the unit the
strategy parameters use for `sl` / `tp`; a strategy that thinks in ATRs converts with
`levels_from_atr` (distance = multiple * ATR / entry) at planning time, so the orders themselves
never depend on an indicator.

Quantities: level `i` gets `quantity * fraction_i` snapped down to the step; the last level gets
`snap(quantity * sum(fractions))` minus the others, so the rounding remainder goes to the last
level and the total never exceeds the position. A level too small for minQty is merged into the
next one (the last into the one before), so nothing is silently dropped. Orders are reduce-only,
so MIN_NOTIONAL does not apply (as on Binance). Prices are snapped in the passive direction:
a long's take-profit sells and rounds up, a short's buys and rounds down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from apps.exchange.domain.filters import Rounding, snap_order_price, snap_price, snap_quantity
from apps.exchange.domain.ids import client_order_id
from apps.exchange.domain.types import InstrumentInfo, OrderRequest, OrderType, Side, TimeInForce

__all__ = [
    "BreakEvenMove",
    "BreakEvenRule",
    "ExitOrderKind",
    "PartialExitManager",
    "TakeProfitLevel",
    "TakeProfitOrder",
    "levels_from_atr",
    "validate_levels",
]

ZERO = Decimal(0)
ONE = Decimal(1)


class ExitOrderKind(StrEnum):
    LIMIT = "LIMIT"  # a resting reduce-only GTC limit: maker fee, may be skipped by a gap
    TAKE_PROFIT_MARKET = "TAKE_PROFIT_MARKET"  # a conditional market order: taker fee, fills


@dataclass(frozen=True, slots=True)
class TakeProfitLevel:
    distance: Decimal  # fraction of the entry price, in the position's favour
    fraction: Decimal  # fraction of the position closed at this level


@dataclass(frozen=True, slots=True)
class BreakEvenRule:
    """Move the stop to the entry (plus `offset`, a fraction of the entry that covers the fees)
    once the level numbered `after_level` (0 = the first) has filled."""

    after_level: int = 0
    offset: Decimal = ZERO

    def __post_init__(self) -> None:
        if self.after_level < 0:
            raise ValueError(f"after_level must be >= 0, got {self.after_level}")
        if not ZERO <= self.offset < Decimal("0.1"):
            raise ValueError(f"break-even offset must be in [0, 0.1), got {self.offset}")


@dataclass(frozen=True, slots=True)
class TakeProfitOrder:
    level: int  # index into the manager's levels
    target_price: Decimal  # the unsnapped price of the level
    order: OrderRequest

    @property
    def quantity(self) -> Decimal:
        assert self.order.quantity is not None
        return self.order.quantity


@dataclass(frozen=True, slots=True)
class BreakEvenMove:
    move: bool
    new_stop: Decimal | None
    reason: str


def levels_from_atr(
    levels: Sequence[tuple[Decimal, Decimal]], *, atr: Decimal, entry_price: Decimal
) -> list[TakeProfitLevel]:
    """Convert `(ATR multiple, fraction)` pairs to price-fraction levels for one entry."""
    if atr <= 0 or entry_price <= 0:
        raise ValueError(f"atr and entry price must be > 0, got {atr} and {entry_price}")
    return [TakeProfitLevel(Decimal(m) * atr / entry_price, Decimal(f)) for m, f in levels]


def validate_levels(
    levels: Sequence[TakeProfitLevel | tuple[Decimal, Decimal]],
) -> tuple[TakeProfitLevel, ...]:
    """Return the levels as `TakeProfitLevel`s; raise ValueError naming the first problem.

    Distances must be > 0 and strictly increasing, fractions > 0 and sum to at most 1.
    """
    out = tuple(
        lv if isinstance(lv, TakeProfitLevel) else TakeProfitLevel(Decimal(lv[0]), Decimal(lv[1]))
        for lv in levels
    )
    if not out:
        raise ValueError("at least one take-profit level is needed")
    previous = ZERO
    for i, lv in enumerate(out):
        if lv.distance <= previous:
            raise ValueError(
                f"take-profit level {i}: distance {lv.distance} must be > 0 and greater than "
                f"the previous level's {previous}"
            )
        if not ZERO < lv.fraction <= ONE:
            raise ValueError(f"take-profit level {i}: fraction {lv.fraction} not in (0, 1]")
        previous = lv.distance
    total = sum((lv.fraction for lv in out), ZERO)
    if total > ONE:
        raise ValueError(f"take-profit fractions sum to {total}, more than 1")
    return out


class PartialExitManager:
    """Turn take-profit levels into reduce-only orders for one position, and decide the
    break-even stop move when a level fills (`break_even=None` never moves it)."""

    def __init__(
        self,
        levels: Sequence[TakeProfitLevel | tuple[Decimal, Decimal]],
        *,
        order_kind: ExitOrderKind = ExitOrderKind.LIMIT,
        break_even: BreakEvenRule | None = None,
    ) -> None:
        self.levels = validate_levels(levels)
        self.order_kind = order_kind
        self.break_even = break_even

    def target_price(self, level: int, *, side: Side, entry_price: Decimal) -> Decimal:
        """The unsnapped price of `level` for a position opened by `side` at `entry_price`."""
        distance = self.levels[level].distance
        return entry_price * (ONE + distance * side.sign)

    def plan(
        self,
        *,
        intent_id: str,
        side: Side,
        entry_price: Decimal,
        quantity: Decimal,
        info: InstrumentInfo,
    ) -> tuple[TakeProfitOrder, ...]:
        """Return the take-profit orders of a position opened by `side` (BUY = long).

        Their quantities sum to at most `quantity`. Levels below minQty are merged as described
        in the module docstring; an empty tuple means the position is too small to scale out.
        Raise ValueError on a non-positive entry price or quantity.
        """
        if entry_price <= 0 or quantity <= 0:
            raise ValueError(f"entry price and quantity must be > 0: {entry_price}, {quantity}")
        position = snap_quantity(info, quantity)
        total = snap_quantity(info, position * sum((lv.fraction for lv in self.levels), ZERO))
        sizes: list[Decimal] = []
        for lv in self.levels[:-1]:
            sizes.append(snap_quantity(info, position * lv.fraction))
        sizes.append(total - sum(sizes, ZERO))
        merged = self._merge_small(sizes, info)
        exit_side = side.opposite
        orders = []
        for i, qty in enumerate(merged):
            if qty <= 0:
                continue
            target = self.target_price(i, side=side, entry_price=entry_price)
            if target <= 0:
                raise ValueError(f"take-profit level {i} of a short is at {target}, not > 0")
            orders.append(
                TakeProfitOrder(
                    level=i,
                    target_price=target,
                    order=self._order(intent_id, i, exit_side, qty, target, info),
                )
            )
        return tuple(orders)

    def on_level_filled(
        self,
        level: int,
        *,
        side: Side,
        entry_price: Decimal,
        info: InstrumentInfo,
        current_stop: Decimal | None = None,
        last_price: Decimal | None = None,
    ) -> BreakEvenMove:
        """Decide whether the fill of `level` moves the stop to break-even, and where.

        The break-even stop is `entry * (1 + offset)` for a long (rounded up to the tick, so the
        fees stay covered) and `entry * (1 - offset)` for a short (rounded down). It moves only
        when it improves `current_stop`, and not when `last_price` would trigger it at once.
        """
        if not 0 <= level < len(self.levels):
            raise ValueError(f"no take-profit level {level} (have {len(self.levels)})")
        rule = self.break_even
        if rule is None:
            return BreakEvenMove(False, None, "break-even move disabled")
        if level < rule.after_level:
            return BreakEvenMove(False, None, f"level {level} is before level {rule.after_level}")
        long = side is Side.BUY
        raw = entry_price * (ONE + rule.offset * side.sign)
        stop = snap_price(info, raw, Rounding.UP if long else Rounding.DOWN)
        if current_stop is not None and (stop <= current_stop if long else stop >= current_stop):
            return BreakEvenMove(False, None, f"stop {current_stop} is already at or past {stop}")
        if last_price is not None and (last_price <= stop if long else last_price >= stop):
            return BreakEvenMove(
                False, None, f"last price {last_price} is beyond break-even {stop}; would trigger"
            )
        return BreakEvenMove(True, stop, f"level {level} filled: stop to break-even {stop}")

    def _merge_small(self, sizes: list[Decimal], info: InstrumentInfo) -> list[Decimal]:
        """Carry each level below minQty into the next; the last into the previous kept one."""
        out = [ZERO] * len(sizes)
        carry = ZERO
        for i, qty in enumerate(sizes):
            qty += carry
            if qty >= info.min_qty and qty > 0:
                out[i], carry = qty, ZERO
            else:
                carry = qty
        if carry > 0:
            kept = [i for i, q in enumerate(out) if q > 0]
            if kept:
                out[kept[-1]] += carry
        return out

    def _order(
        self,
        intent_id: str,
        level: int,
        exit_side: Side,
        qty: Decimal,
        target: Decimal,
        info: InstrumentInfo,
    ) -> OrderRequest:
        cid = client_order_id(intent_id, "tp", level)
        if self.order_kind is ExitOrderKind.LIMIT:
            return OrderRequest(
                symbol=info.symbol,
                side=exit_side,
                type=OrderType.LIMIT,
                quantity=qty,
                price=snap_order_price(info, target, exit_side),
                time_in_force=TimeInForce.GTC,
                reduce_only=True,
                client_order_id=cid,
            )
        return OrderRequest(
            symbol=info.symbol,
            side=exit_side,
            type=OrderType.TAKE_PROFIT_MARKET,
            quantity=qty,
            trigger_price=snap_price(info, target),
            reduce_only=True,
            client_order_id=cid,
        )
