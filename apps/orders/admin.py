from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.orders.models import Fill, Order, OrderEvent


class FillInline(admin.TabularInline):
    model = Fill
    fk_name = "order"
    extra = 0
    can_delete = False
    fields = ["filled_at", "price", "quantity", "fee", "fee_asset", "is_maker", "realized_pnl"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OrderEventInline(admin.TabularInline):
    model = OrderEvent
    extra = 0
    can_delete = False
    fields = ["at", "from_status", "to_status", "detail"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Orders are written by the trading engine; the admin shows them read-only."""

    list_display = [
        "client_order_id",
        "bot",
        "symbol",
        "purpose",
        "side",
        "type",
        "quantity",
        "filled_quantity",
        "price",
        "average_price",
        "slippage_bps",
        "status",
        "created_at",
    ]
    list_filter = ["status", "purpose", "type", "side", "bot"]
    search_fields = ["client_order_id", "exchange_order_id", "algo_id", "symbol"]
    date_hierarchy = "created_at"
    list_select_related = ["bot"]
    inlines = [FillInline, OrderEventInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in Order._meta.fields] + ["notional"]

    @admin.display(description="Filled notional (USDT)")
    def notional(self, obj: Order) -> Any:
        if obj.average_price is None:
            return "—"
        return obj.average_price * obj.filled_quantity

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Fill)
class FillAdmin(admin.ModelAdmin):
    list_display = [
        "order",
        "trade",
        "price",
        "quantity",
        "notional",
        "fee",
        "fee_asset",
        "is_maker",
        "realized_pnl",
        "filled_at",
    ]
    list_filter = ["is_maker", "fee_asset", "order__bot"]
    search_fields = ["order__client_order_id", "exchange_trade_id", "order__symbol"]
    list_select_related = ["order", "trade"]
    date_hierarchy = "filled_at"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in Fill._meta.fields] + ["notional"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
