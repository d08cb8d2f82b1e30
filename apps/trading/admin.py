from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.orders.models import Fill, Order
from apps.trading.models import Position, Signal, Trade


class TradeOrderInline(admin.TabularInline):
    model = Order
    fk_name = "trade"
    extra = 0
    can_delete = False
    show_change_link = True
    fields = [
        "client_order_id",
        "purpose",
        "side",
        "type",
        "quantity",
        "filled_quantity",
        "price",
        "average_price",
        "slippage_bps",
        "status",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TradeFillInline(admin.TabularInline):
    model = Fill
    fk_name = "trade"
    extra = 0
    can_delete = False
    fields = ["filled_at", "order", "price", "quantity", "fee", "realized_pnl", "is_maker"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Trade)
class TradeAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "bot",
        "symbol",
        "side",
        "mode",
        "quantity",
        "entry_price",
        "exit_price",
        "roi",
        "net_pnl_display",
        "status",
        "exit_reason",
        "entry_time",
        "exit_time",
    ]
    list_filter = ["status", "mode", "side", "exit_reason", "bot"]
    search_fields = ["symbol", "bot__name"]
    date_hierarchy = "entry_time"
    list_select_related = ["bot"]
    inlines = [TradeOrderInline, TradeFillInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in Trade._meta.fields] + ["net_pnl_display", "duration"]

    @admin.display(description="Net PnL (USDT)")
    def net_pnl_display(self, obj: Trade) -> Any:
        return obj.net_pnl

    @admin.display(description="Duration")
    def duration(self, obj: Trade) -> str:
        if obj.exit_time is None:
            return "open"
        return str(obj.exit_time - obj.entry_time)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Position)
class PositionAdmin(admin.ModelAdmin):
    list_display = [
        "bot",
        "symbol",
        "side",
        "quantity",
        "entry_price",
        "mark_price",
        "unrealized_pnl",
        "notional_display",
        "leverage",
        "liquidation_price",
        "stop_price",
        "updated_at",
    ]
    list_filter = ["side", "bot"]
    search_fields = ["symbol", "bot__name"]
    list_select_related = ["bot"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in Position._meta.fields] + ["notional_display"]

    @admin.display(description="Notional (USDT)")
    def notional_display(self, obj: Position) -> Any:
        return obj.notional

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Signal)
class SignalAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "received_at",
        "source",
        "bot",
        "symbol",
        "action",
        "alert_id",
        "outcome",
        "blocked_by",
        "order",
    ]
    list_filter = ["source", "outcome", "action", "bot"]
    search_fields = ["symbol", "alert_id", "detail", "bot__name"]
    date_hierarchy = "received_at"
    list_select_related = ["bot", "order"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in Signal._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
