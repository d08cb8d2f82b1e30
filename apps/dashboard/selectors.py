from __future__ import annotations

from typing import Any

from apps.bots.models import Bot
from apps.core.domain.formatting import fmt_pct
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


def ai_overview(*, last: int = 100) -> list[dict[str, Any]]:
    """Per bot using the AI: its role, mode and models, how many decisions it has recorded, the
    share of its ``last`` decisions whose output was used (AI utilisation) and the last one."""
    from apps.ai.models import AiDecision, BotAi

    rows = []
    settings_ = (
        BotAi.objects.exclude(role=BotAi.Role.NONE)
        .filter(bot__rehearsal=False)
        .select_related("bot", "agent", "predictor", "ensemble")
        .order_by("bot__name")
    )
    for ai in settings_:
        decisions = AiDecision.objects.filter(bot=ai.bot)
        recent = list(decisions.values_list("used", flat=True)[:last])
        models = [m for m in (ai.agent, ai.predictor, ai.ensemble) if m is not None]
        rows.append(
            {
                "bot": ai.bot.name,
                "role": ai.role,
                "mode": ai.mode,
                "models": ", ".join(f"#{m.pk} {m.kind}" for m in models) or "none",
                "decisions": decisions.count(),
                "utilisation": fmt_pct(sum(recent) / len(recent)) if recent else "—",
                "last": decisions.first(),
            }
        )
    return rows
