"""Snap prices and quantities to a symbol's filters, and validate an order against them.

Rounding rules (chosen so that snapping never makes an order more aggressive or larger):
- `snap_quantity` always rounds DOWN to the step (never trade more than asked).
- `snap_price` takes an explicit `Rounding`:
  DOWN / UP / NEAREST (a tie goes away from zero, i.e. up for a price).
- `snap_order_price(info, price, side)` is the passive rule for a LIMIT price: a BUY rounds down
  and a SELL rounds up, so the snapped order never pays more / sells for less than asked.
- Trigger prices (stop / take-profit / activation) are snapped to the NEAREST tick.

Validation raises members of the error tree with the Binance code the real venue would give,
and one-line messages naming the symbol, the value and the filter. Reduce-only and
close-position orders are exempt from MIN_NOTIONAL, as on Binance.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from enum import StrEnum

from .errors import MinNotionalError, PriceFilterError, QuantityFilterError
from .types import InstrumentInfo, OrderRequest, OrderType, Side

__all__ = [
    "Rounding",
    "check_order",
    "is_multiple",
    "prepare_order",
    "snap_order_price",
    "snap_price",
    "snap_quantity",
    "snap_to_step",
]


class Rounding(StrEnum):
    DOWN = "DOWN"
    UP = "UP"
    NEAREST = "NEAREST"


_MODES = {Rounding.DOWN: ROUND_FLOOR, Rounding.UP: ROUND_CEILING, Rounding.NEAREST: ROUND_HALF_UP}


def snap_to_step(value: Decimal, step: Decimal, rounding: Rounding = Rounding.DOWN) -> Decimal:
    """Round `value` to a multiple of `step` (> 0); the result carries the step's exponent.

    Raise ValueError if `step` is not positive.
    """
    if step <= 0:
        raise ValueError(f"step must be > 0, got {step}")
    units = (value / step).to_integral_value(rounding=_MODES[rounding])
    normal = step.normalize()
    exponent = normal.as_tuple().exponent
    quantum = normal if isinstance(exponent, int) and exponent < 0 else Decimal(1)
    # Carry the step's exponent so that str() gives Binance-friendly text ("0.100" not "1E-1").
    return (units * step).quantize(quantum)


def is_multiple(value: Decimal, step: Decimal) -> bool:
    return step > 0 and value % step == 0


def snap_price(
    info: InstrumentInfo, price: Decimal, rounding: Rounding = Rounding.NEAREST
) -> Decimal:
    """Snap `price` to the tick size with the given rounding."""
    return snap_to_step(price, info.tick_size, rounding)


def snap_order_price(info: InstrumentInfo, price: Decimal, side: Side) -> Decimal:
    """Snap a LIMIT price passively: BUY rounds down, SELL rounds up."""
    return snap_price(info, price, Rounding.DOWN if side is Side.BUY else Rounding.UP)


def snap_quantity(info: InstrumentInfo, qty: Decimal, *, market: bool = False) -> Decimal:
    """Round `qty` down to the step size (MARKET_LOT_SIZE step for market orders)."""
    step = info.market_step_size if market else info.step_size
    return snap_to_step(qty, step, Rounding.DOWN)


def _is_market_like(order_type: OrderType) -> bool:
    return order_type is not OrderType.LIMIT


def prepare_order(info: InstrumentInfo, request: OrderRequest) -> OrderRequest:
    """Return `request` with its prices and quantity snapped to the filters (not validated)."""
    r = request
    market = _is_market_like(r.type)
    qty = None if r.quantity is None else snap_quantity(info, r.quantity, market=market)
    price = None if r.price is None else snap_order_price(info, r.price, r.side)
    trigger = None if r.trigger_price is None else snap_price(info, r.trigger_price)
    activation = None if r.activation_price is None else snap_price(info, r.activation_price)
    try:
        return replace(
            r, quantity=qty, price=price, trigger_price=trigger, activation_price=activation
        )
    except ValueError as exc:  # e.g. quantity snapped to zero
        raise QuantityFilterError(
            f"{info.symbol}: quantity {request.quantity} rounds to 0 at step {info.step_size} "
            f"(LOT_SIZE)",
            code=-4003,
        ) from exc


def check_order(
    info: InstrumentInfo, request: OrderRequest, *, reference_price: Decimal | None = None
) -> None:
    """Validate `request` against the filters; return None or raise a FilterRejectedError.

    `reference_price` values the notional of orders without a limit price (market and
    conditional orders): the caller passes the mark / last price. Without it, such orders skip
    the MIN_NOTIONAL check.
    """
    sym = info.symbol
    for name, value in (
        ("price", request.price),
        ("trigger price", request.trigger_price),
        ("activation price", request.activation_price),
    ):
        if value is None:
            continue
        if value <= 0 or (info.min_price > 0 and value < info.min_price):
            raise PriceFilterError(
                f"{sym}: {name} {value} below minPrice {info.min_price} (PRICE_FILTER)", code=-4001
            )
        if info.max_price > 0 and value > info.max_price:
            raise PriceFilterError(
                f"{sym}: {name} {value} above maxPrice {info.max_price} (PRICE_FILTER)", code=-4002
            )
        if not is_multiple(value, info.tick_size):
            raise PriceFilterError(
                f"{sym}: {name} {value} is not a multiple of tickSize {info.tick_size} "
                f"(PRICE_FILTER)"
            )
    if request.quantity is None:
        return  # close_position: the venue sizes it at trigger time
    qty = request.quantity
    market = _is_market_like(request.type)
    filt = "MARKET_LOT_SIZE" if market else "LOT_SIZE"
    step = info.market_step_size if market else info.step_size
    lo = info.market_min_qty if market else info.min_qty
    hi = info.market_max_qty if market else info.max_qty
    if not is_multiple(qty, step):
        raise QuantityFilterError(
            f"{sym}: quantity {qty} is not a multiple of stepSize {step} ({filt})"
        )
    if qty < lo:
        raise QuantityFilterError(f"{sym}: quantity {qty} below minQty {lo} ({filt})", code=-4004)
    if hi > 0 and qty > hi:
        raise QuantityFilterError(f"{sym}: quantity {qty} above maxQty {hi} ({filt})", code=-4005)
    if request.reduce_only or request.close_position:
        return
    price = request.price if request.price is not None else reference_price
    if request.type in (OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET):
        price = request.trigger_price
    if price is None:
        return
    notional = price * qty
    if notional < info.min_notional:
        raise MinNotionalError(
            f"{sym}: notional {notional.normalize():f} = {qty} x {price} below "
            f"{info.min_notional} (MIN_NOTIONAL)"
        )
