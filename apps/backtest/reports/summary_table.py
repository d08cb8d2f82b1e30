"""The backtest command's summary table (one row per market and a total), like Freqtrade's."""

from __future__ import annotations

from typing import Any

from apps.core.domain.formatting import fmt_money, fmt_pct

_EXITS = (
    ("stop_loss", "SL"),
    ("take_profit", "TP"),
    ("signal", "sig"),
    ("trailing", "trail"),
    ("liquidation", "liq"),
    ("end", "end"),
)
_HEAD = (
    "market",
    "trades",
    "win %",
    "profit f.",
    "PnL USDT",
    "return",
    "max DD",
    "Sharpe",
    "buy&hold",
    "exits (SL/TP/sig/trail/liq/end)",
)


def _exits(sides: dict[str, Any]) -> dict[str, int]:
    out = dict.fromkeys((k for k, _ in _EXITS), 0)
    for side in sides.values():
        for reason, count in side.get("exit_reasons", {}).items():
            out[reason] = out.get(reason, 0) + int(count)
    return out


def _pf(value: Any) -> str:
    if value is None:  # no losing trade, or no trade: not a number
        return "—"
    value = float(value)
    return "inf" if value == float("inf") else f"{value:.2f}"


def _num(figures: dict[str, Any], key: str) -> float:
    """A figure of the summary; 0 where the summary has none (no trades)."""
    value = figures.get(key)
    return 0.0 if value is None else float(value)


def summary_table(summary: dict[str, Any]) -> str:
    """Return the per-market and total figures of a backtest summary as an aligned table."""
    rows: list[tuple[str, ...]] = []
    total_trades = total_wins = 0.0
    total_pnl = 0.0
    exits_total = dict.fromkeys((k for k, _ in _EXITS), 0)
    for market, m in summary["symbols"].items():
        sides = m.get("by_side", {})
        pnl = sum(float(s.get("pnl", 0.0)) for s in sides.values())
        exits = _exits(sides)
        for reason, count in exits.items():
            exits_total[reason] = exits_total.get(reason, 0) + count
        trades = int(m.get("n_trades", 0))
        total_trades += trades
        total_wins += _num(m, "win_rate") * trades
        total_pnl += pnl
        rows.append(
            (
                market,
                str(trades),
                fmt_pct(_num(m, "win_rate")),
                _pf(m.get("profit_factor")),
                fmt_money(pnl),
                fmt_pct(_num(m, "total_return")),
                fmt_pct(-abs(_num(m, "max_drawdown"))),
                f"{_num(m, 'sharpe'):.2f}",
                fmt_pct(_num(m, "buy_and_hold_return")),
                "/".join(str(exits[k]) for k, _ in _EXITS),
            )
        )
    cash = float(summary.get("cash") or 0.0) * max(1, len(rows))
    rows.append(
        (
            "TOTAL",
            str(int(total_trades)),
            fmt_pct(total_wins / total_trades if total_trades else 0.0),
            "",
            fmt_money(total_pnl),
            fmt_pct(total_pnl / cash if cash else 0.0),
            "",
            "",
            "",
            "/".join(str(exits_total[k]) for k, _ in _EXITS),
        )
    )
    widths = [max(len(r[i]) for r in (_HEAD, *rows)) for i in range(len(_HEAD))]

    def line(cells: tuple[str, ...]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join((first, *rest)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(_HEAD), rule, *(line(r) for r in rows[:-1]), rule, line(rows[-1])])
