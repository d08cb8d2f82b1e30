"""Position sizing: fixed-fractional risk at the stop, scaled, capped and snapped. Decimal only.

Steps, in order (each cap that binds is named in `SizingDecision.caps_applied`):

1. risk quantity = equity * risk_pct / |entry - stop| (risk_pct is a fraction: 0.01 = 1 %);
2. times the volatility (CryptoVIX) and circuit-breaker multipliers, each in [0, 1];
3. capped by leverage: notional = qty * entry <= equity * max_leverage;
4. capped by exposure: open notional + notional <= equity * max_exposure_multiple;
5. refused when `open_positions >= max_open_positions`;
6. snapped down to the instrument's step size;
7. refused below the instrument's min quantity or min notional.

Every division and product rounds towards zero (ROUND_FLOOR on positive figures), so the
loss at the stop, `qty * |entry - stop|`, never exceeds `equity * risk_pct`, and no cap is
exceeded by rounding. Fees and slippage are not part of the sizing; the execution layer
budgets for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, localcontext

ZERO = Decimal(0)
ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class SizingLimits:
    risk_pct: Decimal = Decimal("0.01")
    max_leverage: Decimal = Decimal("3")
    max_exposure_multiple: Decimal = Decimal("3")
    max_open_positions: int = 5

    def __post_init__(self) -> None:
        if not ZERO < self.risk_pct <= ONE:
            raise ValueError(f"risk_pct must be a fraction in (0, 1], got {self.risk_pct}")
        if not self.max_leverage > 0:
            raise ValueError(f"max_leverage must be positive, got {self.max_leverage}")
        if not self.max_exposure_multiple > 0:
            raise ValueError(
                f"max_exposure_multiple must be positive, got {self.max_exposure_multiple}"
            )
        if self.max_open_positions < 1:
            raise ValueError(f"max_open_positions must be >= 1, got {self.max_open_positions}")


@dataclass(frozen=True, slots=True)
class InstrumentFilters:
    """The exchange's LOT_SIZE / MIN_NOTIONAL figures for one symbol."""

    step_size: Decimal
    min_qty: Decimal = ZERO
    min_notional: Decimal = ZERO

    def __post_init__(self) -> None:
        if not self.step_size > 0:
            raise ValueError(f"step_size must be positive, got {self.step_size}")
        if self.min_qty < 0 or self.min_notional < 0:
            raise ValueError("min_qty and min_notional must not be negative")


@dataclass(frozen=True, slots=True)
class SizingDecision:
    quantity: Decimal
    notional: Decimal
    risk_amount: Decimal
    caps_applied: tuple[str, ...]
    refused_reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.refused_reason is None


def snap_down(quantity: Decimal, step: Decimal) -> Decimal:
    """Round `quantity` down to a whole multiple of `step`."""
    with localcontext() as ctx:
        ctx.rounding = ROUND_FLOOR
        steps = (quantity / step).to_integral_value(rounding=ROUND_FLOOR)
        return steps * step if steps > 0 else ZERO


def size_position(
    *,
    equity: Decimal,
    entry_price: Decimal,
    stop_price: Decimal,
    limits: SizingLimits,
    filters: InstrumentFilters,
    open_notional: Decimal = ZERO,
    open_positions: int = 0,
    vix_multiplier: Decimal = ONE,
    breaker_multiplier: Decimal = ONE,
) -> SizingDecision:
    """Size one entry; refusals come back as a decision with `refused_reason`, never raised.

    Raise ValueError only on malformed arguments (non-Decimal, negative, multipliers out of
    [0, 1]).
    """
    for name, value in (
        ("equity", equity),
        ("entry_price", entry_price),
        ("stop_price", stop_price),
        ("open_notional", open_notional),
        ("vix_multiplier", vix_multiplier),
        ("breaker_multiplier", breaker_multiplier),
    ):
        if not isinstance(value, Decimal) or not value.is_finite():
            raise ValueError(f"{name} must be a finite Decimal, got {value!r}")
    if entry_price <= 0 or stop_price <= 0:
        raise ValueError("entry_price and stop_price must be positive")
    if open_notional < 0 or open_positions < 0:
        raise ValueError("open_notional and open_positions must not be negative")
    for name, mult in (
        ("vix_multiplier", vix_multiplier),
        ("breaker_multiplier", breaker_multiplier),
    ):
        if not ZERO <= mult <= ONE:
            raise ValueError(f"{name} must be in [0, 1], got {mult}")

    caps: list[str] = []

    def refuse(reason: str) -> SizingDecision:
        return SizingDecision(ZERO, ZERO, ZERO, tuple(caps), refused_reason=reason)

    if equity <= 0:
        return refuse(f"equity {equity} is not positive")
    distance = abs(entry_price - stop_price)
    if distance == 0:
        return refuse("stop price equals entry price: risk per unit is zero")
    if open_positions >= limits.max_open_positions:
        return refuse(
            f"max open positions reached: {open_positions} >= {limits.max_open_positions}"
        )

    with localcontext() as ctx:
        ctx.rounding = ROUND_FLOOR
        budget = equity * limits.risk_pct
        qty = budget / distance
        for label, mult in (("vix", vix_multiplier), ("breaker", breaker_multiplier)):
            if mult < ONE:
                qty = qty * mult
                caps.append(f"{label} multiplier x{mult}")
        if qty <= 0:
            return refuse("size multipliers reduced the quantity to zero")

        leverage_cap = equity * limits.max_leverage / entry_price
        if qty > leverage_cap:
            qty = leverage_cap
            caps.append(
                f"leverage cap {limits.max_leverage}x: notional <= {equity * limits.max_leverage}"
            )

        exposure_limit = equity * limits.max_exposure_multiple
        headroom = exposure_limit - open_notional
        if headroom <= 0:
            return refuse(
                f"exposure cap reached: open notional {open_notional} >= {exposure_limit}"
            )
        exposure_cap = headroom / entry_price
        if qty > exposure_cap:
            qty = exposure_cap
            caps.append(f"exposure cap: open {open_notional} + new <= {exposure_limit}")

        snapped = snap_down(qty, filters.step_size)
        if snapped < qty:
            caps.append(f"snapped down to step {filters.step_size}")
        qty = snapped
        notional = qty * entry_price
        risk_amount = qty * distance

    if qty <= 0 or qty < filters.min_qty:
        return refuse(f"quantity {qty} below min qty {filters.min_qty} (step {filters.step_size})")
    if notional < filters.min_notional:
        return refuse(f"notional {notional} below min notional {filters.min_notional}")
    return SizingDecision(qty, notional, risk_amount, tuple(caps))
