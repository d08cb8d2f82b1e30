"""List columns of the admin that show prices and quantities to the instrument's tick and
step (the instruments' owner reads them, so the apps' admins need not)."""

from __future__ import annotations

import time
from typing import Any

from django.contrib import admin

from apps.core.domain.formatting import fmt_money, fmt_price, fmt_qty
from apps.exchange.models import Instrument

_STEPS_TTL = 60.0
_steps: tuple[float, dict[str, tuple[Any, Any]]] = (0.0, {})


def instrument_steps() -> dict[str, tuple[Any, Any]]:
    """Each symbol's (tick size, step size), read at most once a minute."""
    global _steps
    read_at, steps = _steps
    if time.monotonic() - read_at > _STEPS_TTL:
        steps = {
            s: (tick, step)
            for s, tick, step in Instrument.objects.values_list("symbol", "tick_size", "step_size")
        }
        _steps = (time.monotonic(), steps)
    return steps


def number_column(field: str, kind: str, label: str, *, symbol: str = "symbol") -> Any:
    """A list column showing ``field`` for people: ``kind`` is price (to the instrument's tick),
    qty (to its step), money (to cents) or pct (a percentage value, two places)."""

    def show(obj: Any) -> str:
        value = getattr(obj, field)
        if value is None:
            return "—"
        if kind == "money":
            return fmt_money(value)
        if kind == "pct":
            return f"{value:.2f} %"
        tick, step = instrument_steps().get(_symbol_of(obj, symbol), (None, None))
        return fmt_price(value, tick) if kind == "price" else fmt_qty(value, step)

    show.__name__ = f"{field}_shown"
    return staticmethod(admin.display(description=label, ordering=field)(show))


def _symbol_of(obj: Any, path: str) -> str:
    for part in path.split("__"):
        obj = getattr(obj, part, None)
    return str(obj or "")
