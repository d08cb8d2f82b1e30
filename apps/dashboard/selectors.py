from __future__ import annotations

from typing import Any

from apps.bots.models import Bot
from apps.orders.models import Order
from apps.trading.models import Position, Trade


def platform_snapshot() -> dict[str, Any]:
    """Counts shown on the dashboard and sent with each heartbeat."""
    return {
        "bots_running": Bot.objects.filter(
            state=Bot.State.RUNNING, enabled=True, rehearsal=False
        ).count(),
        "bots_total": Bot.objects.count(),
        "open_trades": Trade.objects.filter(status=Trade.Status.OPEN).count(),
        "open_positions": Position.objects.exclude(quantity=0).count(),
        "orders_today": Order.objects.count(),
    }


def dashboard_context() -> dict[str, Any]:
    return {
        "snapshot": platform_snapshot(),
        "bots": Bot.objects.select_related("strategy", "account").order_by("name"),
        "positions": Position.objects.exclude(quantity=0).select_related("bot"),
        "trades": Trade.objects.select_related("bot").order_by("-entry_time")[:20],
    }
