from __future__ import annotations

from typing import Any

from django.contrib import admin

from apps.core.admin import EngineRecordAdmin, ReadOnlyInline, time_column
from apps.core.domain.formatting import fmt_money
from apps.exchange.columns import number_column
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
    """Trades, the columns a trader scans; times are market time (the venue's fill times:
    the replayed clock in the demo)."""

    qty = number_column("quantity", "qty", "Qty")
    entry = number_column("entry_price", "price", "Entry")
    exit = number_column("exit_price", "price", "Exit")
    roi_shown = number_column("roi", "pct", "ROI")
    entry_at = time_column("entry_time", "Entry (market time)")
    exit_at = time_column("exit_time", "Exit (market time)")
    list_display = [
        "id",
        "bot",
        "symbol",
        "side",
        "qty",
        "entry",
        "exit",
        "roi_shown",
        "net_pnl_display",
        "exit_reason",
        "entry_at",
        "exit_at",
    ]
    list_filter = ["status", "mode", "side", "exit_reason", "bot"]
    search_fields = ["symbol", "bot__name"]
    date_hierarchy = "entry_time"
    list_select_related = ["bot"]
    inlines = [TradeOrderInline, TradeFillInline]

    extra_readonly_fields = ["net_pnl_display", "duration"]

    @admin.display(description="Net PnL (USDT)")
    def net_pnl_display(self, obj: Trade) -> Any:
        return fmt_money(obj.net_pnl)

    @admin.display(description="Duration")
    def duration(self, obj: Trade) -> str:
        if obj.exit_time is None:
            return "open"
        return str(obj.exit_time - obj.entry_time)


@admin.register(Position)
class PositionAdmin(EngineRecordAdmin):
    qty = number_column("quantity", "qty", "Qty")
    entry = number_column("entry_price", "price", "Entry")
    mark = number_column("mark_price", "price", "Mark")
    upnl = number_column("unrealized_pnl", "money", "Unrealized PnL (USDT)")
    stop = number_column("stop_price", "price", "Stop")
    list_display = [
        "bot",
        "symbol",
        "side",
        "qty",
        "entry",
        "mark",
        "upnl",
        "notional_display",
        "leverage",
        "stop",
    ]
    list_filter = ["side", "bot"]
    search_fields = ["symbol", "bot__name"]
    list_select_related = ["bot"]

    extra_readonly_fields = ["notional_display"]

    @admin.display(description="Notional (USDT)")
    def notional_display(self, obj: Position) -> Any:
        return fmt_money(obj.notional)


@admin.register(Signal)
class SignalAdmin(EngineRecordAdmin):
    received = time_column("received_at", "Received (wall clock)")
    list_display = [
        "id",
        "received",
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
