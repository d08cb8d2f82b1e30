"""Numbers for people: prices to the instrument's tick, quantities to its step, money to cents,
percentages to two places, and never an exponent (``0E-12``, ``1.2E+5``).

Used by the admin, the dashboard events (``event_fields``), the commands' output and the
reports, so that a price reads ``108157.5`` (BTCUSDT, tick 0.1), not ``108157.500000000000``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

Number = Decimal | float | int | str | None


def _dec(value: Number) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        return None


def plain(value: Number) -> str:
    """The exact value without trailing zeros or an exponent ("" for None)."""
    number = _dec(value)
    if number is None:
        return ""
    if number.is_nan() or number.is_infinite():
        return str(number)
    if number == 0:
        return "0"
    text = f"{number.normalize():f}"
    return text


def _to(value: Number, quantum: Decimal | None) -> str:
    number = _dec(value)
    if number is None:
        return ""
    if quantum is None or quantum <= 0:
        return plain(number)
    return plain(number.quantize(quantum.normalize(), rounding=ROUND_HALF_EVEN))


def fmt_price(value: Number, tick: Number = None) -> str:
    """A price on the instrument's tick (e.g. tick 0.1: 108157.5)."""
    return _to(value, _dec(tick))


def fmt_qty(value: Number, step: Number = None) -> str:
    """A quantity on the instrument's step (e.g. step 0.001: 0.004)."""
    return _to(value, _dec(step))


def fmt_money(value: Number, *, sign: bool = False) -> str:
    """An amount of the quote asset to cents, with thousands separators (1,234.56)."""
    number = _dec(value)
    if number is None:
        return ""
    cents = number.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    text = f"{cents:,.2f}"
    return f"+{text}" if sign and cents > 0 else text


def fmt_pct(fraction: Number, *, places: int = 2) -> str:
    """A fraction as a percentage to two places (0.1234: 12.34 %)."""
    number = _dec(fraction)
    if number is None:
        return ""
    if number.is_infinite() or number.is_nan():
        return str(number)
    return f"{number * 100:.{places}f} %"


def event_fields(row: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """The named attributes of ``row`` for an event: Decimals as exact strings without trailing
    zeros or an exponent ("0", not "0E-12"), datetimes in ISO 8601, the rest as they are."""
    out: dict[str, Any] = {}
    for name in fields:
        value = getattr(row, name)
        if isinstance(value, Decimal):
            value = plain(value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        out[name] = value
    return out
