"""A self-contained HTML report of a backtest: equity curve, drawdown, trades on the price chart
and the metrics table. Charts are inline SVG (no script, no network), so the file opens anywhere.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from apps.backtest.research.domain.engine import BacktestResult
from apps.core.domain.formatting import fmt_money, fmt_pct

WIDTH, HEIGHT, MAX_POINTS = 900, 220, 1200


def _downsample(x: NDArray[np.int64], y: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
    if x.size <= MAX_POINTS:
        return x, y
    idx = np.linspace(0, x.size - 1, MAX_POINTS).astype(np.int64)
    return x[idx], y[idx]


def _scale(values: NDArray, lo: float, hi: float, size: float) -> NDArray:
    span = (hi - lo) or 1.0
    return (values - lo) / span * size


def _svg_line(
    x: NDArray[np.int64],
    y: NDArray[np.float64],
    *,
    title: str,
    color: str,
    markers: Sequence[tuple[int, float, str]] = (),
) -> str:
    xs, ys = _downsample(x, y)
    x0, x1 = float(x[0]), float(x[-1])
    lo, hi = float(np.min(y)), float(np.max(y))
    px = _scale(xs.astype(np.float64), x0, x1, WIDTH - 60) + 50
    py = HEIGHT - 20 - _scale(ys, lo, hi, HEIGHT - 40)
    points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py, strict=True))
    dots = []
    for t, value, fill in markers:
        mx = float(_scale(np.array([float(t)]), x0, x1, WIDTH - 60)[0]) + 50
        my = HEIGHT - 20 - float(_scale(np.array([value]), lo, hi, HEIGHT - 40)[0])
        dots.append(f'<circle cx="{mx:.1f}" cy="{my:.1f}" r="2.5" fill="{fill}"/>')
    first = datetime.fromtimestamp(x0 / 1000, tz=UTC).strftime("%Y-%m-%d")
    last = datetime.fromtimestamp(x1 / 1000, tz=UTC).strftime("%Y-%m-%d")
    return (
        f"<figure><figcaption>{html.escape(title)}</figcaption>"
        f'<svg width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{html.escape(title)}">'
        f'<text x="2" y="14" font-size="11">{hi:,.2f}</text>'
        f'<text x="2" y="{HEIGHT - 22}" font-size="11">{lo:,.2f}</text>'
        f'<text x="50" y="{HEIGHT - 4}" font-size="11">{first}</text>'
        f'<text x="{WIDTH - 80}" y="{HEIGHT - 4}" font-size="11">{last}</text>'
        f'<polyline fill="none" stroke="{color}" stroke-width="1.2" points="{points}"/>'
        f"{''.join(dots)}</svg></figure>"
    )


# How each metric reads for people: fractions as percentages, money to cents, ratios to 2 places.
_PERCENT = {
    "total_return",
    "cagr",
    "max_drawdown",
    "win_rate",
    "exposure",
    "buy_and_hold_return",
}
_MONEY = {"expectancy", "final_equity", "funding_paid"}


def _shown(key: str, value: Any) -> str:
    if value is None:  # not defined (no trade, no loss)
        return "—"
    if not isinstance(value, float):
        return str(value)
    if key in _PERCENT:
        return fmt_pct(value)
    if key in _MONEY:
        return fmt_money(value)
    return f"{value:,.2f}"


def _metrics_table(result: BacktestResult) -> str:
    rows = []
    for key, value in result.metrics.as_dict().items():
        if isinstance(value, dict):
            continue
        label = html.escape(key.replace("_", " "))
        rows.append(f"<tr><th>{label}</th><td>{_shown(key, value)}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def backtest_report_html(*, results: Sequence[BacktestResult], closes: dict[str, NDArray]) -> str:
    """Render one section per symbol: metrics, equity, drawdown, price with entries/exits."""
    sections = []
    for r in results:
        key = f"{r.symbol}-{r.interval}"
        peak = np.maximum.accumulate(r.equity)
        drawdown = (r.equity - peak) / np.where(peak == 0, 1, peak) * 100
        trades = r.trade_records()
        markers = [(t.entry_time, t.entry_price, "#0a7d28") for t in trades] + [
            (t.exit_time, t.exit_price, "#c62828") for t in trades
        ]
        rows = "".join(
            f"<tr><td>{datetime.fromtimestamp(t.entry_time / 1000, tz=UTC):%Y-%m-%d %H:%M}</td>"
            f"<td>{datetime.fromtimestamp(t.exit_time / 1000, tz=UTC):%Y-%m-%d %H:%M}</td>"
            f"<td>{t.side}</td><td>{t.entry_price:,.4f}</td><td>{t.exit_price:,.4f}</td>"
            f"<td>{html.escape(t.exit_reason)}</td><td>{t.pnl:,.2f}</td>"
            f"<td>{t.slippage_bps:,.2f}</td></tr>"
            for t in trades[-200:]
        )
        sections.append(
            f"<section><h2>{html.escape(key)}: {len(trades)} trades"
            f" ({html.escape(r.kind)}, {html.escape(r.mode or r.kind)})</h2>"
            + _metrics_table(r)
            + _svg_line(r.open_time, r.equity, title="Equity (quote currency)", color="#1565c0")
            + _svg_line(r.open_time, drawdown, title="Drawdown (%)", color="#c62828")
            + _svg_line(
                r.open_time,
                closes[key],
                title="Close, entries (green) and exits (red)",
                color="#555",
                markers=markers,
            )
            + "<h3>Last trades</h3><table><tr><th>entry</th><th>exit</th><th>side</th>"
            "<th>entry price</th><th>exit price</th><th>reason</th><th>PnL</th>"
            "<th>slippage (bps)</th></tr>" + rows + "</table></section>"
        )
    style = (
        "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}"
        "table{border-collapse:collapse;margin:1rem 0}th,td{padding:.2rem .6rem;"
        "border-bottom:1px solid #ddd;text-align:left}figure{margin:1rem 0}"
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Backtest report"
        f"</title><style>{style}</style></head><body><h1>Backtest report</h1>"
        + "".join(sections)
        + "</body></html>"
    )
