from __future__ import annotations

from typing import Any

from django.contrib import admin

from apps.core.admin import EngineRecordAdmin, ReadOnlyInline
from apps.orders.models import Fill, Order
from apps.trading.models import Position, Signal, Trade


class TradeOrderInline(ReadOnlyInline):
    model = Order
    fk_name = "trade"
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


class TradeFillInline(ReadOnlyInline):
    model = Fill
    fk_name = "trade"
    fields = ["filled_at", "order", "price", "quantity", "fee", "realized_pnl", "is_maker"]


@admin.register(Trade)
class TradeAdmin(EngineRecordAdmin):
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

    extra_readonly_fields = ["net_pnl_display", "duration"]

    @admin.display(description="Net PnL (USDT)")
    def net_pnl_display(self, obj: Trade) -> Any:
        return obj.net_pnl

    @admin.display(description="Duration")
    def duration(self, obj: Trade) -> str:
        if obj.exit_time is None:
            return "open"
        return str(obj.exit_time - obj.entry_time)


@admin.register(Position)
class PositionAdmin(EngineRecordAdmin):
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

    extra_readonly_fields = ["notional_display"]

    @admin.display(description="Notional (USDT)")
    def notional_display(self, obj: Position) -> Any:
        return obj.notional


@admin.register(Signal)
class SignalAdmin(EngineRecordAdmin):
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
