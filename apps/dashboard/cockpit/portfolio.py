"""The portfolio page: exposure by symbol and side, the correlation matrix, margin use."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from apps.dashboard.cockpit.figures import ZERO, bot_rows, cockpit_bots, open_positions
from apps.dashboard.cockpit.numbers import fmt_money, fmt_pct, plain, ticks_for, utc_text
from apps.exchange.domain.types import datetime_to_ms
from apps.market.selectors import kline_last_closed_open_time, klines_window
from apps.risk.domain.portfolio import correlation_matrix
from apps.trading.models import Position

CORRELATION_INTERVAL = "1h"
CORRELATION_LOOKBACK = 100  # the risk settings' default


def _exposure(positions: list[Position], ticks: Any) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], list[Position]] = defaultdict(list)
    for p in positions:
        groups[(p.symbol, p.side)].append(p)
    rows = []
    for (symbol, side), group in sorted(groups.items()):
        quantity = sum((abs(p.quantity) for p in group), ZERO)
        notional = sum((p.notional for p in group), ZERO)
        unrealized = sum((p.unrealized_pnl for p in group), ZERO)
        rows.append(
            {
                "symbol": symbol,
                "side": side,
                "quantity": ticks.qty(symbol, quantity),
                "notional": fmt_money(notional),
                "notional_raw": plain(notional),
                "unrealized": fmt_money(unrealized, sign=True),
                "bots": ", ".join(sorted({p.bot.name for p in group})),
            }
        )
    return rows


def _color(value: float | None) -> str:
    """Red for +1, white for 0, blue for -1 (grey when undefined)."""
    if value is None or math.isnan(value):
        return "#e5e7eb"
    v = max(-1.0, min(1.0, value))
    if v >= 0:
        g = b = round(255 - 190 * v)
        return f"rgb(255,{g},{b})"
    r = g = round(255 + 190 * v)
    return f"rgb({r},{g},255)"


def correlation(*, symbols: list[str], now: datetime) -> dict[str, Any]:
    """Correlation of 1h log returns over the last ``CORRELATION_LOOKBACK`` common candles
    closed at ``now`` (older candles are used, and said so, when the newest are missing)."""
    names = sorted(set(symbols))
    if len(names) < 2:
        return {"symbols": names, "rows": [], "problem": "needs at least two symbols", "span": ""}
    end = kline_last_closed_open_time(interval=CORRELATION_INTERVAL, now_ms=datetime_to_ms(now))
    series = {}
    for name in names:
        k = klines_window(
            symbol=name, interval=CORRELATION_INTERVAL, end_ms=end, limit=2 * CORRELATION_LOOKBACK
        )
        series[name] = (k.open_time, k.close)
    try:
        matrix = correlation_matrix(series, CORRELATION_LOOKBACK, min_returns=20)
    except ValueError as exc:
        return {"symbols": names, "rows": [], "problem": " ".join(str(exc).split()), "span": ""}
    values = matrix.as_dict()
    rows = [
        {
            "symbol": a,
            "cells": [
                {
                    "other": b,
                    "value": "" if values[a][b] is None else f"{values[a][b]:+.2f}",
                    "raw": values[a][b],
                    "color": _color(values[a][b]),
                }
                for b in matrix.symbols
            ],
        }
        for a in matrix.symbols
    ]
    first = datetime.fromtimestamp(matrix.start_time_ms / 1000, tz=UTC)
    last = datetime.fromtimestamp(matrix.end_time_ms / 1000, tz=UTC)
    stale = matrix.end_time_ms < end - 3 * 3_600_000
    return {
        "symbols": list(matrix.symbols),
        "rows": rows,
        "problem": f"stale: the newest common candle opened {utc_text(last)}" if stale else "",
        "span": f"{matrix.returns_used} returns of {CORRELATION_INTERVAL} candles, "
        f"{utc_text(first)} to {utc_text(last)} UTC",
    }


def _margin(rows: list[dict[str, Any]], positions: list[Position]) -> dict[str, Any]:
    used: dict[str, Decimal] = defaultdict(lambda: ZERO)
    notional: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for p in positions:
        used[p.bot.name] += p.notional / (p.leverage or 1)
        notional[p.bot.name] += p.notional
    out = []
    for row in rows:
        equity = Decimal(row["equity_raw"])
        margin = used[row["name"]]
        out.append(
            {
                "bot": row["name"],
                "equity": row["equity"],
                "notional": fmt_money(notional[row["name"]]),
                "margin": fmt_money(margin),
                "use": fmt_pct(margin / equity) if equity > 0 else "—",
                "free": fmt_money(equity - margin),
            }
        )
    total_equity = sum((Decimal(r["equity_raw"]) for r in rows), ZERO)
    total_margin = sum(used.values(), ZERO)
    return {
        "rows": out,
        "total": {
            "equity": fmt_money(total_equity),
            "notional": fmt_money(sum(notional.values(), ZERO)),
            "margin": fmt_money(total_margin),
            "use": fmt_pct(total_margin / total_equity) if total_equity > 0 else "—",
            "free": fmt_money(total_equity - total_margin),
        },
    }


def portfolio_snapshot(*, now: datetime) -> dict[str, Any]:
    bots = cockpit_bots()
    positions = list(open_positions(bots=bots))
    symbols = sorted({s for bot in bots for s in bot.symbols or []} | {p.symbol for p in positions})
    ticks = ticks_for(symbols)
    rows = bot_rows(bots=bots, now=now, positions=positions, ai=[])
    return {
        "page": "portfolio",
        "market_time": utc_text(now),
        "exposure": _exposure(positions, ticks),
        "correlation": correlation(symbols=symbols, now=now),
        "margin": _margin(rows, positions),
        "open_positions_count": len(positions),
    }
