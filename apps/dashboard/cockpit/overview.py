"""The overview's snapshot: every bot, open positions and orders, equity, health."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from apps.dashboard.cockpit.figures import (
    ZERO,
    ai_rows,
    bot_rows,
    cockpit_bots,
    open_orders,
    open_positions,
    order_row,
    position_row,
    vix_reading,
    vix_summary,
)
from apps.dashboard.cockpit.health import cockpit_health
from apps.dashboard.cockpit.numbers import fmt_money, plain, ticks_for, utc_text
from apps.dashboard.cockpit.series import closed_net_by_time, equity_points
from apps.trading.models import Trade


def overview_snapshot(*, now: datetime) -> dict[str, Any]:
    """Every figure of the overview at market time ``now`` (JSON types; numbers formatted)."""
    bots = cockpit_bots()
    positions = list(open_positions(bots=bots))
    orders = list(open_orders(bots=bots))
    ticks = ticks_for(
        {s for bot in bots for s in bot.symbols or []}
        | {p.symbol for p in positions}
        | {o.symbol for o in orders}
    )
    ai = ai_rows()
    rows = bot_rows(bots=bots, now=now, positions=positions, ai=ai)
    total = sum((Decimal(row["equity_raw"]) for row in rows), ZERO)
    start = sum((bot.account.paper_starting_balance for bot in bots), ZERO)
    exits = closed_net_by_time(Trade.objects.filter(bot__in=bots))
    # Partial exits of open trades are in the equity figure but not in the closed trades' curve.
    curve = equity_points(start, exits, now=now, last=total)
    reading, why = vix_reading(now=now)
    health = cockpit_health(now=now)
    return {
        "page": "overview",
        "market_time": utc_text(now),
        "bots": rows,
        "positions": [position_row(p, ticks) for p in positions],
        "orders": [order_row(o, ticks) for o in orders],
        "equity_total": fmt_money(total),
        "equity_total_raw": plain(total),
        "open_positions_count": len(positions),
        "bots_running": sum(1 for row in rows if row["state"] == "running"),
        "bots_total": len(rows),
        "equity_curve": curve,
        "vix": vix_summary(reading, why),
        "ai": ai,
        "health": {name: check.as_dict() for name, check in health.items()},
    }
