"""A bot's current drawdown, as the performance review defines it: the fall of cumulative net
PnL from its running peak, as a fraction of the starting equity."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

ZERO = Decimal(0)


def drawdown_ratio(*, start: Decimal, closed_nets: Iterable[Decimal], open_pnl: Decimal) -> Decimal:
    """Return ``(peak - now) / start`` where ``now`` is the cumulative net PnL of the closed
    trades (in exit order) plus ``open_pnl`` (open trades' partial exits and the unrealised PnL
    of open positions) and ``peak`` the highest cumulative value seen, starting at 0. A
    ``start`` of 0 or less gives 0 (no base to measure against)."""
    if start <= 0:
        return ZERO
    cumulative = peak = ZERO
    for net in closed_nets:
        cumulative += net
        peak = max(peak, cumulative)
    now = cumulative + open_pnl
    peak = max(peak, now)
    return (peak - now) / start
