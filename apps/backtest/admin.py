from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from apps.backtest.models import BacktestRun
from apps.core.admin import EngineRecordAdmin


@admin.register(BacktestRun)
class BacktestRunAdmin(EngineRecordAdmin):
    list_display = [
        "id",
        "strategy",
        "status",
        "trade_count",
        "total_pnl",
        "engine_seconds",
        "code_version",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "strategy"]
    search_fields = ["strategy", "code_version", "error"]
    date_hierarchy = "created_at"
    extra_readonly_fields = ["report"]

    @admin.display(description="Report")
    def report(self, obj: BacktestRun) -> str:
        if obj.status != BacktestRun.Status.DONE:
            return "available when the run is done"
        url = reverse("backtest-report", args=[obj.pk])
        return format_html('<a href="{}">equity, drawdown and trades (HTML)</a>', url)
