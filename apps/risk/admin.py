from __future__ import annotations

from django.contrib import admin

from apps.risk.models import RiskSettings


@admin.register(RiskSettings)
class RiskSettingsAdmin(admin.ModelAdmin):
    list_display = [
        "bot",
        "max_open_positions",
        "max_exposure",
        "risk_per_trade",
        "daily_loss_limit",
        "correlation_threshold",
        "correlation_lookback",
        "tier_summary",
        "updated_at",
    ]
    list_select_related = ["bot"]
    search_fields = ["bot__name"]
    list_filter = ["max_open_positions"]
    readonly_fields = ["updated_at"]

    @admin.display(description="Circuit-breaker tiers")
    def tier_summary(self, obj: RiskSettings) -> str:
        return "; ".join(
            f"{t.get('name')}: {t.get('loss_limit')} USDT/{t.get('window_minutes')}m "
            f"-> {t.get('action')}"
            for t in obj.breaker_tiers or []
        )
