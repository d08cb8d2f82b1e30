from __future__ import annotations

from typing import Any

from django.contrib import admin

from apps.core.admin import EngineRecordAdmin, ReadOnlyInline
from apps.orders.models import Fill, Order, OrderEvent


class FillInline(ReadOnlyInline):
    model = Fill
    fk_name = "order"
    fields = ["filled_at", "price", "quantity", "fee", "fee_asset", "is_maker", "realized_pnl"]


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    fields = ["at", "from_status", "to_status", "detail"]


@admin.register(Order)
class OrderAdmin(EngineRecordAdmin):
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

    extra_readonly_fields = ["notional"]

    @admin.display(description="Filled notional (USDT)")
    def notional(self, obj: Order) -> Any:
        if obj.average_price is None:
            return "—"
        return obj.average_price * obj.filled_quantity


@admin.register(Fill)
class FillAdmin(EngineRecordAdmin):
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

    extra_readonly_fields = ["notional"]
