"""A bot's page: price charts with its trades and stops marked, equity and drawdown, trades,
orders with their event history, signals with their outcome, risk and AI decisions."""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.urls import reverse

from apps.bots.models import Bot
from apps.dashboard.cockpit.figures import (
    bot_rows,
    open_positions,
    order_row,
    position_row,
    vix_reading,
    vix_summary,
    with_placed_at,
)
from apps.dashboard.cockpit.numbers import Ticks, fmt_money, plain, ticks_for, ts, utc_text
from apps.dashboard.cockpit.series import closed_net_by_time, drawdown_points, equity_points
from apps.exchange.domain.types import datetime_to_ms
from apps.market.selectors import interval_ms, kline_last_closed_open_time, klines_window
from apps.orders.models import Fill, Order, OrderEvent
from apps.risk.models import RiskSettings
from apps.trading.models import Signal, Trade

CANDLES = 500
TRADES_SHOWN = 100
ORDERS_SHOWN = 50
SIGNALS_SHOWN = 100
AI_SHOWN = 100
STOP_PURPOSES = (Order.Purpose.STOP_LOSS, Order.Purpose.TRAILING_STOP)

# Marker looks (lightweight-charts createSeriesMarkers).
_GREEN, _RED, _BLUE, _AMBER, _GREY = "#26a69a", "#ef5350", "#2962ff", "#f59e0b", "#787b86"


def trades_filtered(*, bot: Bot, symbol: str = "", status: str = "") -> QuerySet[Trade]:
    """The bot's trades, newest first, of one symbol and/or status when given."""
    trades = Trade.objects.filter(bot=bot)
    if symbol:
        trades = trades.filter(symbol=symbol.upper())
    if status:
        trades = trades.filter(status=status.upper())
    return trades.order_by("-entry_time", "-id")


def trade_row(trade: Trade, ticks: Ticks) -> dict[str, Any]:
    symbol = trade.symbol
    return {
        "id": trade.pk,
        "symbol": symbol,
        "side": trade.side,
        "status": trade.status,
        "quantity": ticks.qty(symbol, trade.quantity),
        "entry": ticks.price(symbol, trade.entry_price),
        "exit": ticks.price(symbol, trade.exit_price),
        "entry_time": utc_text(trade.entry_time),
        "exit_time": utc_text(trade.exit_time),
        "net": fmt_money(trade.net_pnl, sign=True),
        "net_raw": plain(trade.net_pnl),
        "fees": fmt_money(trade.fees),
        "funding": fmt_money(trade.funding),
        "roi": f"{trade.roi:.2f} %" if trade.roi is not None else "",
        "exit_reason": trade.get_exit_reason_display() if trade.exit_reason else "",
    }


TRADE_CSV_HEADER = (
    "id", "symbol", "side", "status", "mode", "leverage", "quantity", "remaining_quantity",
    "entry_price", "exit_price", "entry_time", "exit_time", "realized_pnl", "fees", "funding",
    "net_pnl", "roi_pct", "exit_reason",
)  # fmt: skip


def trades_csv_rows(*, bot: Bot, symbol: str = "", status: str = "") -> Iterator[list[str]]:
    """The header, then every matching trade with exact values (no rounding), oldest first."""
    yield list(TRADE_CSV_HEADER)
    for t in trades_filtered(bot=bot, symbol=symbol, status=status).reverse().iterator():
        yield [
            str(t.pk), t.symbol, t.side, t.status, t.mode, str(t.leverage), plain(t.quantity),
            plain(t.remaining_quantity), plain(t.entry_price), plain(t.exit_price),
            t.entry_time.isoformat(), t.exit_time.isoformat() if t.exit_time else "",
            plain(t.realized_pnl), plain(t.fees), plain(t.funding), plain(t.net_pnl),
            plain(t.roi), t.exit_reason,
        ]  # fmt: skip


def _candles(symbol: str, interval: str, now: datetime) -> list[dict[str, float | int]]:
    end = kline_last_closed_open_time(interval=interval, now_ms=datetime_to_ms(now))
    k = klines_window(symbol=symbol, interval=interval, end_ms=end, limit=CANDLES)
    columns = (k.open_time, k.open, k.high, k.low, k.close)
    return [
        {"time": int(t) // 1000, "open": o, "high": h, "low": lo, "close": c}
        for t, o, h, lo, c in zip(*(column.tolist() for column in columns), strict=True)
    ]


class _Bars:
    """Snap a moment to the open time of the candle it falls in (None before the first)."""

    def __init__(self, times: list[int]) -> None:
        self.times = times

    def at(self, moment: datetime | None) -> int | None:
        if moment is None or not self.times:
            return None
        i = bisect.bisect_right(self.times, ts(moment)) - 1
        return self.times[i] if i >= 0 else None


def _fill_markers(bot: Bot, symbol: str, bars: _Bars, since: datetime, ticks: Ticks) -> list[dict]:
    fills = (
        Fill.objects.filter(order__bot=bot, order__symbol=symbol, filled_at__gte=since)
        .select_related("order", "trade")
        .order_by("filled_at", "id")
    )
    markers = []
    for fill in fills:
        time = bars.at(fill.filled_at)
        if time is None:
            continue
        order, trade = fill.order, fill.trade
        qty = ticks.qty(symbol, fill.quantity)
        price = ticks.price(symbol, fill.price)
        buy = order.side == Order.Side.BUY
        if order.purpose == Order.Purpose.ENTRY:
            kind, text, color = "entry", f"{'Long' if buy else 'Short'} {qty} @ {price}", _BLUE
            shape = "arrowUp" if buy else "arrowDown"
        else:
            final = (
                trade is not None
                and trade.exit_time is not None
                and (fill.filled_at >= trade.exit_time)
            )
            kind = "exit" if final or trade is None else "partial-exit"
            label = "Exit" if kind == "exit" else "Partial exit"
            text = f"{label} {qty} @ {price} ({order.get_purpose_display()})"
            color, shape = (_AMBER if kind == "partial-exit" else _GREY), "square"
            if kind == "partial-exit":
                shape = "circle"
        markers.append(
            {
                "time": time,
                "position": "belowBar" if buy else "aboveBar",
                "shape": shape,
                "color": color,
                "text": text,
                "kind": kind,
            }
        )
    return markers


def _signal_markers(bot: Bot, symbol: str, bars: _Bars, since: datetime) -> list[dict]:
    signals = (
        Signal.objects.filter(bot=bot, symbol=symbol, source=Signal.Source.WEBHOOK)
        .filter(Q(signal_time__gte=since) | Q(signal_time__isnull=True, received_at__gte=since))
        .order_by("signal_time", "received_at")
    )
    markers = []
    for signal in signals:
        time = bars.at(signal.signal_time or signal.received_at)
        if time is None:
            continue
        buy = signal.action == Signal.Action.BUY
        markers.append(
            {
                "time": time,
                "position": "belowBar" if buy else "aboveBar",
                "shape": "circle",
                "color": _GREEN if signal.outcome == Signal.Outcome.PLACED else _RED,
                "text": f"Webhook {signal.action} ({signal.outcome})",
                "kind": "webhook",
            }
        )
    return markers


def _stop_path(bot: Bot, symbol: str, bars: _Bars, since: datetime, step_s: int) -> list[dict]:
    """The stop's trigger price over time: each stop order placed (a trailing stop is replaced
    as price moves), one line per trade (a gap between trades)."""
    stops = Order.objects.filter(
        bot=bot, symbol=symbol, purpose__in=STOP_PURPOSES, trigger_price__isnull=False
    )
    orders = (
        with_placed_at(stops)
        .filter(placed_at__gte=since)
        .order_by("placed_at", "id")
        .values_list("placed_at", "trigger_price", "trade_id")
    )
    points: list[dict] = []
    trade_of_last: int | None = None
    for placed_at, trigger, trade_id in orders:
        time = bars.at(placed_at)
        if time is None:
            continue
        if points and trade_id != trade_of_last and "value" in points[-1]:
            gap = points[-1]["time"] + step_s
            if gap < time:
                points.append({"time": gap})  # whitespace: the line breaks here
        if points and points[-1]["time"] == time:
            points[-1] = {"time": time, "value": float(trigger)}
        else:
            points.append({"time": time, "value": float(trigger)})
        trade_of_last = trade_id
    return points


def price_charts(*, bot: Bot, symbols: list[str], now: datetime, ticks: Ticks) -> list[dict]:
    interval = bot.strategy.timeframe
    step_s = interval_ms(interval) // 1000
    stops = {p.symbol: p.stop_price for p in open_positions(bots=[bot]) if p.stop_price is not None}
    charts = []
    for symbol in symbols:
        candles = _candles(symbol, interval, now)
        bars = _Bars([c["time"] for c in candles])
        since = datetime.fromtimestamp(candles[0]["time"], tz=now.tzinfo) if candles else now
        markers = _fill_markers(bot, symbol, bars, since, ticks) + _signal_markers(
            bot, symbol, bars, since
        )
        markers.sort(key=lambda m: m["time"])
        stop = stops.get(symbol)
        charts.append(
            {
                "symbol": symbol,
                "interval": interval,
                "candles": candles,
                "markers": markers,
                "stop": float(stop) if stop is not None else None,
                "stop_text": ticks.price(symbol, stop) if stop is not None else "",
                "stop_path": _stop_path(bot, symbol, bars, since, step_s),
                "precision": len(ticks.of(symbol)["tick"].partition(".")[2]),
                "tick": ticks.of(symbol)["tick"],
            }
        )
    return charts


def _order_with_events(order: Order, ticks: Ticks) -> dict[str, Any]:
    row = order_row(order, ticks)
    row["events"] = [
        {
            "at": utc_text(e.at),
            "from": e.from_status,
            "to": e.to_status,
            "detail": e.detail,
        }
        for e in order.events.all()
    ]
    return row


def _signal_row(signal: Signal) -> dict[str, Any]:
    return {
        "id": signal.pk,
        "at": utc_text(signal.signal_time or signal.received_at),
        "source": signal.source,
        "symbol": signal.symbol,
        "action": signal.action,
        "outcome": signal.outcome,
        "blocked_by": signal.blocked_by,
        "detail": signal.detail,
        "order": signal.order.client_order_id if signal.order else "",
    }


def _ai(bot: Bot) -> dict[str, Any]:
    from apps.ai.models import AiDecision, BotAi

    setting = BotAi.objects.filter(bot=bot).exclude(role=BotAi.Role.NONE).first()
    decisions = list(AiDecision.objects.filter(bot=bot)[:AI_SHOWN])
    return {
        "enabled": setting is not None or bool(decisions),
        "role": setting.role if setting else "",
        "mode": setting.mode if setting else "",
        "decisions": [
            {
                "at": utc_text(d.at),
                "symbol": d.symbol,
                "action": d.action,
                "confidence": f"{d.confidence:.2f}",
                "used": d.used,
                "outcome": d.outcome,
                "latency": f"{d.latency_ms:.2f} ms",
            }
            for d in decisions
        ],
    }


def _risk(bot: Bot, row: dict[str, Any], now: datetime) -> dict[str, Any]:
    risk = RiskSettings.objects.filter(bot=bot).first()
    blocked = (
        Signal.objects.filter(bot=bot, outcome=Signal.Outcome.BLOCKED)
        .order_by("-received_at")
        .values_list("blocked_by", "detail", "received_at")[:20]
    )
    reading, why = vix_reading(now=now)
    return {
        "breaker": row["breaker"],
        "breaker_reason": row["breaker_reason"],
        "vix": row["vix"],
        "vix_detail": row["vix_detail"],
        "vix_platform": vix_summary(reading, why),
        "settings": {
            "max_open_positions": risk.max_open_positions,
            "max_exposure": fmt_money(risk.max_exposure),
            "risk_per_trade": f"{risk.risk_per_trade * 100:.2f} %",
            "daily_loss_limit": fmt_money(risk.daily_loss_limit),
            "correlation_threshold": plain(risk.correlation_threshold),
        }
        if risk
        else None,
        "blocked": [{"by": by, "detail": detail, "at": utc_text(at)} for by, detail, at in blocked],
    }


def bot_snapshot(*, bot: Bot, now: datetime, symbol: str = "", status: str = "") -> dict[str, Any]:
    """Every figure of the bot's page at market time ``now`` (trades filtered by ``symbol`` and
    ``status`` when given)."""
    positions = list(open_positions(bots=[bot]))
    symbols = list(dict.fromkeys([*(bot.symbols or []), *(p.symbol for p in positions)]))
    ticks = ticks_for(symbols)
    [row] = bot_rows(bots=[bot], now=now, positions=positions)
    trades = trades_filtered(bot=bot, symbol=symbol, status=status)
    orders = (
        with_placed_at(Order.objects.filter(bot=bot))
        .select_related("bot")
        .prefetch_related(Prefetch("events", queryset=OrderEvent.objects.order_by("at", "id")))
        .order_by("-placed_at", "-id")[:ORDERS_SHOWN]
    )
    signals = Signal.objects.filter(bot=bot).select_related("order")[:SIGNALS_SHOWN]
    equity = equity_points(
        bot.account.paper_starting_balance,
        closed_net_by_time(Trade.objects.filter(bot=bot)),
        now=now,
        last=Decimal(row["equity_raw"]),
    )
    csv_url = reverse("cockpit-bot-trades-csv", args=[bot.name])
    query = "&".join(f"{k}={v}" for k, v in (("symbol", symbol), ("status", status)) if v)
    return {
        "page": "bot",
        "market_time": utc_text(now),
        "bot": row,
        "symbols": symbols,
        "positions": [position_row(p, ticks) for p in positions],
        "charts": price_charts(bot=bot, symbols=symbols, now=now, ticks=ticks),
        "equity_curve": equity,
        "drawdown_curve": drawdown_points(equity),
        "trades": [trade_row(t, ticks) for t in trades[:TRADES_SHOWN]],
        "trades_count": trades.count(),
        "trades_filter": {"symbol": symbol.upper(), "status": status.upper()},
        "trades_csv": f"{csv_url}?{query}" if query else csv_url,
        "orders": [_order_with_events(o, ticks) for o in orders],
        "signals": [_signal_row(s) for s in signals],
        "risk": _risk(bot, row, now),
        "ai": _ai(bot),
    }
