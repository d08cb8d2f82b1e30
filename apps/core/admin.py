"""Admin building blocks shared by the apps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib import admin
from django.http import HttpRequest


class ReadOnlyInline(admin.TabularInline):
    """An inline that shows engine-written rows; nothing is added or deleted through it."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Sequence[str]:
        return list(self.fields or [])

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class EngineRecordAdmin(admin.ModelAdmin):
    """Records written by the trading engine: every field read-only, no add page."""

    extra_readonly_fields: Sequence[str] = ()

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields] + list(self.extra_readonly_fields)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


# --- numbers for people in list pages -----------------------------------------------------------
_STEPS_TTL = 60.0
_steps: tuple[float, dict[str, tuple[Any, Any]]] = (0.0, {})


def instrument_steps() -> dict[str, tuple[Any, Any]]:
    """Each symbol's (tick size, step size), read at most once a minute."""
    import time

    from apps.exchange.models import Instrument

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
    from apps.core.domain.formatting import fmt_money, fmt_price, fmt_qty

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


def time_column(field: str, label: str) -> Any:
    """A list column of a time, labelled with its clock (market time or wall clock)."""

    def show(obj: Any) -> Any:
        return getattr(obj, field)

    show.__name__ = f"{field}_shown"
    return staticmethod(admin.display(description=label, ordering=field)(show))


def _symbol_of(obj: Any, path: str) -> str:
    for part in path.split("__"):
        obj = getattr(obj, part, None)
    return str(obj or "")
