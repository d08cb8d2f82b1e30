from __future__ import annotations

from typing import Any

from django.contrib import admin

from apps.core.admin import EngineRecordAdmin, ReadOnlyInline, time_column
from apps.exchange.columns import number_column
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

    qty = number_column("quantity", "qty", "Qty")
    filled = number_column("filled_quantity", "qty", "Filled")
    limit = number_column("price", "price", "Price")
    trigger = number_column("trigger_price", "price", "Trigger")
    avg = number_column("average_price", "price", "Avg fill")
    created = time_column("created_at", "Created (wall clock)")
    list_display = [
        "client_order_id",
        "bot",
        "symbol",
        "purpose",
        "side",
        "type",
        "qty",
        "filled",
        "limit",
        "trigger",
        "avg",
        "status",
        "created",
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
    fill_price = number_column("price", "price", "Price", symbol="order__symbol")
    qty = number_column("quantity", "qty", "Qty", symbol="order__symbol")
    fee_shown = number_column("fee", "money", "Fee")
    pnl = number_column("realized_pnl", "money", "Realized PnL")
    filled = time_column("filled_at", "Filled (market time)")
    list_display = [
        "order",
        "trade",
        "fill_price",
        "qty",
        "notional",
        "fee_shown",
        "is_maker",
        "pnl",
        "filled",
    ]
    list_filter = ["is_maker", "fee_asset", "order__bot"]
    search_fields = ["order__client_order_id", "exchange_trade_id", "order__symbol"]
    list_select_related = ["order", "trade"]
    date_hierarchy = "filled_at"

    extra_readonly_fields = ["notional"]
