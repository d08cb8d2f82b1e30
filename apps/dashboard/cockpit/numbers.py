"""Numbers for people on the cockpit: prices to the instrument's tick, quantities to its step,
money to cents, percentages to two places (``apps.core.domain.formatting``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from apps.core.domain.formatting import fmt_money, fmt_pct, fmt_price, fmt_qty, plain
from apps.exchange.models import Instrument

__all__ = ["Ticks", "fmt_money", "fmt_pct", "plain", "ticks_for", "ts", "utc_text"]


@dataclass(frozen=True, slots=True)
class Ticks:
    """Tick and step of each symbol (unknown symbols print their exact value)."""

    tick: dict[str, Decimal]
    step: dict[str, Decimal]

    def price(self, symbol: str, value: Decimal | float | None) -> str:
        return fmt_price(value, self.tick.get(symbol)) if value is not None else ""

    def qty(self, symbol: str, value: Decimal | float | None) -> str:
        return fmt_qty(value, self.step.get(symbol)) if value is not None else ""

    def of(self, symbol: str) -> dict[str, str]:
        """The symbol's tick and step as strings (for the page's own formatting of events)."""
        return {"tick": plain(self.tick.get(symbol)), "step": plain(self.step.get(symbol))}


def ticks_for(symbols: Iterable[str]) -> Ticks:
    names = set(symbols)
    rows = Instrument.objects.filter(symbol__in=names).values_list(
        "symbol", "tick_size", "step_size"
    )
    tick: dict[str, Decimal] = {}
    step: dict[str, Decimal] = {}
    for symbol, tick_size, step_size in rows:
        tick.setdefault(symbol, tick_size)
        step.setdefault(symbol, step_size)
    return Ticks(tick, step)


def ts(moment: datetime) -> int:
    """Seconds since the epoch (the charts' UTC time scale)."""
    return int(moment.timestamp())


def utc_text(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
