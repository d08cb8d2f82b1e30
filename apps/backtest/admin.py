from __future__ import annotations

from django.contrib import admin

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
