from __future__ import annotations

from django.contrib import admin

from apps.market.models import FundingRate, Kline


@admin.register(Kline)
class KlineAdmin(admin.ModelAdmin):
    list_display = ["symbol", "interval", "open_time", "open", "high", "low", "close", "volume"]
    list_filter = ["symbol", "interval"]
    search_fields = ["symbol"]
    show_full_result_count = False


@admin.register(FundingRate)
class FundingRateAdmin(admin.ModelAdmin):
    list_display = ["symbol", "funding_time", "rate"]
    list_filter = ["symbol"]
    search_fields = ["symbol"]
    show_full_result_count = False
