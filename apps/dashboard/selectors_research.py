"""What the cockpit's research pages show: backtest, optimisation and training runs, their live
progress, and a finished backtest's charts (equity, drawdown, monthly returns, trades on the
price chart) in the shape the page's script draws.

A finished backtest stores its figures and trades, not its per-candle equity: the run page
recomputes the run from its stored inputs with the backtest service (deterministic, as the
HTML report does) and checks the recomputation against the stored figures.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from apps.ai.models import ModelArtifact
from apps.backtest.models import BacktestRun, OptimizationRun, OptimizationTrial
from apps.core.domain.formatting import fmt_money, fmt_pct, fmt_price, fmt_qty
from apps.exchange.reference_data import SYMBOL_SPECS
from apps.market.domain.candles import interval_to_ms

#: Most points sent to a chart per series; longer series are thinned (equity, drawdown) or
#: merged into coarser candles (prices), and the page says so.
MAX_CHART_POINTS = 50_000
MAX_CANDLES = 20_000
#: Trades listed under the price chart (the newest).
MAX_TRADE_ROWS = 500
LIST_LIMIT = 50

_DATA_FILE = re.compile(r"^(?P<symbol>[A-Z0-9]+)-(?P<interval>\d+[mhdwM])\.csv(?:\.gz)?$")
_MARKETS = ("futures", "spot")


# --- formatting ----------------------------------------------------------------------------------


def ms_to_day(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def ms_to_minute(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def fmt_ratio(value: Any) -> str:
    number = _number(value)
    return "—" if number is None else f"{number:,.2f}"


def _pct(value: Any) -> str:
    number = _number(value)
    return "—" if number is None else fmt_pct(number)


def _money(value: Any, *, sign: bool = False) -> str:
    number = _number(value)
    return "—" if number is None else fmt_money(number, sign=sign)


# Headline metrics, in order: (key in Metrics.as_dict, label, how it reads for people).
HEADLINE = (
    ("total_return", "Total return", _pct),
    ("cagr", "CAGR", _pct),
    ("sharpe", "Sharpe", fmt_ratio),
    ("sortino", "Sortino", fmt_ratio),
    ("calmar", "Calmar", fmt_ratio),
    ("max_drawdown", "Max drawdown", _pct),
    ("win_rate", "Win rate", _pct),
    ("profit_factor", "Profit factor", fmt_ratio),
    ("profit_loss_ratio", "Avg win / avg loss", fmt_ratio),
    ("expectancy", "Expectancy per trade", _money),
    ("exposure", "Time in market", _pct),
    ("n_trades", "Trades", lambda v: "—" if v is None else f"{int(v):,}"),
    ("buy_and_hold_return", "Buy and hold", _pct),
    ("final_equity", "Final equity", _money),
    ("funding_paid", "Funding paid", _money),
    ("avg_slippage_bps", "Avg slippage (bps)", fmt_ratio),
    ("liquidations", "Liquidations", lambda v: "—" if v is None else f"{int(v):,}"),
)


def headline_metrics(metrics: dict[str, Any]) -> list[dict[str, str]]:
    """One symbol's stored metrics as ``[{key, label, value}]`` for people."""
    return [
        {"key": key, "label": label, "value": shown(metrics.get(key))}
        for key, label, shown in HEADLINE
        if key in metrics
    ]


def _tick(symbol: str) -> Decimal | None:
    spec = SYMBOL_SPECS.get(symbol)
    return spec.tick_size if spec else None


def _step(symbol: str) -> Decimal | None:
    spec = SYMBOL_SPECS.get(symbol)
    return spec.step_size if spec else None


# --- the data files a backtest can run on --------------------------------------------------------


def data_catalogue() -> dict[str, dict[str, list[str]]]:
    """``{market: {symbol: [intervals]}}`` of the kline files under ``SHARED_DATA_DIR``."""
    root = Path(settings.SHARED_DATA_DIR)
    out: dict[str, dict[str, list[str]]] = {}
    for market in _MARKETS:
        folder = root / market
        if not folder.is_dir():
            continue
        symbols: dict[str, list[str]] = {}
        for path in sorted(folder.iterdir()):
            match = _DATA_FILE.match(path.name)
            if match and path.is_file():
                symbols.setdefault(match["symbol"], []).append(match["interval"])
        for intervals in symbols.values():
            intervals.sort(key=interval_to_ms)
        if symbols:
            out[market] = symbols
    return out


def data_file_name(market: str, symbol: str, interval: str) -> str | None:
    """The data file (relative to the data directory) of a market, symbol and interval."""
    root = Path(settings.SHARED_DATA_DIR)
    for suffix in (".csv.gz", ".csv"):
        name = f"{market}/{symbol}-{interval}{suffix}"
        if (root / name).is_file():
            return name
    return None


@functools.lru_cache(maxsize=64)
def _file_span(path: str, size: int, mtime_ns: int) -> tuple[int, int]:
    from apps.market.data import load_klines

    klines = load_klines(path)
    return int(klines.open_time[0]), int(klines.open_time[-1])


def data_file_span(name: str) -> tuple[int, int]:
    """First and last candle open time (ms) of a data file (cached by size and mtime)."""
    path = Path(settings.SHARED_DATA_DIR) / name
    stat = path.stat()
    return _file_span(str(path), stat.st_size, stat.st_mtime_ns)


# --- run lists and live progress -----------------------------------------------------------------


def _run_symbols(run: BacktestRun) -> list[str]:
    if run.symbols:
        return list(run.symbols)
    out = []
    for name in run.data_files:
        match = _DATA_FILE.match(Path(name).name)
        out.append(match["symbol"] if match else Path(name).name)
    return out


def _run_interval(run: BacktestRun) -> str:
    intervals = []
    for name in run.data_files:
        match = _DATA_FILE.match(Path(name).name)
        if match and match["interval"] not in intervals:
            intervals.append(match["interval"])
    return ", ".join(intervals)


def _elapsed(since: datetime | None) -> str:
    if since is None:
        return ""
    seconds = max(0, int((timezone.now() - since).total_seconds()))
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def backtest_progress(run: BacktestRun) -> dict[str, Any]:
    """``{status, percent, text}``: the backtest service reports no partial progress, so a
    running run shows how long it has been running."""
    status = run.status
    if status == BacktestRun.Status.DONE:
        seconds = run.engine_seconds
        took = ""
        if seconds is not None:
            took = f" in {seconds * 1000:.0f} ms" if seconds < 1 else f" in {seconds:,.1f} s"
        return {"status": status, "percent": 100, "text": f"done{took}"}
    if status == BacktestRun.Status.FAILED:
        return {"status": status, "percent": 100, "text": f"failed: {run.error or 'unknown error'}"}
    if status == BacktestRun.Status.RUNNING:
        return {"status": status, "percent": None, "text": f"running ({_elapsed(run.created_at)})"}
    return {"status": status, "percent": 0, "text": f"queued ({_elapsed(run.created_at)})"}


def _run_return(run: BacktestRun) -> float | None:
    if run.total_pnl is None:
        return None
    cash = float(run.cash) * max(1, len(run.metrics) or len(run.data_files))
    return float(run.total_pnl) / cash if cash else None


def backtest_row(run: BacktestRun) -> dict[str, Any]:
    """One backtest run as a list row (and as the progress endpoint's answer)."""
    done = run.status == BacktestRun.Status.DONE
    return {
        "id": run.pk,
        "strategy": run.strategy,
        "symbols": ", ".join(_run_symbols(run)),
        "interval": _run_interval(run),
        "dates": f"{ms_to_day(run.start_ms) or 'start'} → {ms_to_day(run.end_ms) or 'end'}",
        "created": timezone.localtime(run.created_at).strftime("%Y-%m-%d %H:%M"),
        "progress": backtest_progress(run),
        "trades": f"{run.trade_count:,}" if done else "",
        "pnl": _money(run.total_pnl, sign=True) if done else "",
        "return": _pct(_run_return(run)) if done else "",
        "url": reverse("research-backtest", args=[run.pk]),
        "done": done,
    }


def backtest_rows(limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
    return [backtest_row(run) for run in BacktestRun.objects.all()[:limit]]


def _trials_per_window(run: OptimizationRun) -> int:
    if run.sampler != OptimizationRun.Sampler.GRID:
        return int(run.n_trials)
    try:
        from apps.backtest.optimisation.runs import run_optimizer

        optimizer = run_optimizer(run)
        return int(optimizer.planner().total)
    except Exception:  # a display estimate; the run's own checks report its errors
        return int(run.n_trials)


def _first_fingerprint(run: OptimizationRun) -> dict[str, Any]:
    fingerprints = run.data_fingerprint or {}
    for name in run.data_files:
        if name in fingerprints:
            return fingerprints[name]
    return next(iter(fingerprints.values()), {})


def optimization_window_count(run: OptimizationRun) -> int:
    if run.windows:
        return len(run.windows)
    candles = int(_first_fingerprint(run).get("candles") or 0)
    step = run.step_candles or run.test_candles
    start, count = run.warmup_candles, 0
    while step and start + run.train_candles + run.test_candles <= candles:
        count += 1
        start += step
    return count


def optimization_progress(run: OptimizationRun) -> dict[str, Any]:
    windows = optimization_window_count(run)
    total = windows * _trials_per_window(run)
    complete = run.trials.filter(state=OptimizationTrial.State.COMPLETE).count()
    percent = (
        100
        if run.status == OptimizationRun.Status.DONE
        else (min(99, int(complete * 100 / total)) if total else 0)
    )
    counts = f"{complete:,} / {total:,} trials" if total else f"{complete:,} trials"
    if run.status == OptimizationRun.Status.FAILED:
        text = f"failed: {run.error or 'unknown error'}"
    elif run.status == OptimizationRun.Status.DONE:
        text = f"done · {counts}"
    else:
        text = f"{run.status} · {counts} · {percent} %"
    return {
        "status": run.status,
        "percent": percent,
        "text": text,
        "complete": complete,
        "total": total,
        "windows": windows,
    }


def _opt_symbols(run: OptimizationRun) -> str:
    if run.symbols:
        return ", ".join(run.symbols)
    out = []
    for name in run.data_files:
        match = _DATA_FILE.match(Path(name).name)
        out.append(match["symbol"] if match else Path(name).name)
    return ", ".join(out)


def optimization_row(run: OptimizationRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "strategy": run.strategy,
        "sampler": run.sampler,
        "objective": run.objective,
        "symbols": _opt_symbols(run),
        "interval": run.interval,
        "created": timezone.localtime(run.created_at).strftime("%Y-%m-%d %H:%M"),
        "progress": optimization_progress(run),
        "in_sample": fmt_ratio(run.mean_in_sample),
        "out_of_sample": fmt_ratio(run.mean_out_of_sample),
        "url": reverse("research-optimization", args=[run.pk]),
    }


def optimization_rows(limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
    return [optimization_row(run) for run in OptimizationRun.objects.all()[:limit]]


def training_progress(model: ModelArtifact) -> dict[str, Any]:
    percent = max(0, min(100, round((model.progress or 0.0) * 100)))
    if model.status == ModelArtifact.Status.FAILED:
        text = f"failed: {model.error or 'unknown error'}"
    elif model.status == ModelArtifact.Status.TRAINING:
        text = f"training · {percent} %"
    else:
        percent = 100
        text = f"{model.get_status_display().lower()} · trained in {model.train_seconds:,.0f} s"
    return {"status": model.status, "percent": percent, "text": text}


def training_row(model: ModelArtifact) -> dict[str, Any]:
    oos = (model.metrics or {}).get("out_of_sample") or {}
    return {
        "id": model.pk,
        "name": model.name or f"{model.kind} #{model.pk}",
        "kind": model.get_kind_display(),
        "symbols": ", ".join(model.symbols or []),
        "interval": model.interval,
        "created": timezone.localtime(model.created_at).strftime("%Y-%m-%d %H:%M"),
        "progress": training_progress(model),
        "oos_sharpe": fmt_ratio(oos.get("sharpe")) if isinstance(oos, dict) else "—",
    }


def training_rows(limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
    return [training_row(m) for m in ModelArtifact.objects.all()[:limit]]


def progress_payload(
    *, backtests: Iterable[int], optimizations: Iterable[int], models: Iterable[int]
) -> dict[str, Any]:
    """The research page's poll: the rows it lists, keyed by id (``finished``: nothing left to
    poll)."""
    bt = {str(r.pk): backtest_row(r) for r in BacktestRun.objects.filter(pk__in=list(backtests))}
    opt = {
        str(r.pk): optimization_row(r)
        for r in OptimizationRun.objects.filter(pk__in=list(optimizations))
    }
    trained = {
        str(m.pk): training_row(m) for m in ModelArtifact.objects.filter(pk__in=list(models))
    }
    terminal = {"done", "failed", "candidate", "active", "retired"}
    finished = all(
        row["progress"]["status"] in terminal
        for rows in (bt, opt, trained)
        for row in rows.values()
    )
    return {"backtests": bt, "optimizations": opt, "models": trained, "finished": finished}


# --- one finished backtest -----------------------------------------------------------------------


class RecomputeError(RuntimeError):
    """The run's data cannot be loaded again (moved or changed files); one line."""


@functools.lru_cache(maxsize=4)
def _recompute(run_id: int, finished: str) -> tuple[list[Any], Any]:
    from apps.backtest.services import BacktestError, backtest_run_recompute
    from apps.market.data import MarketDataError

    try:
        series, outcome = backtest_run_recompute(BacktestRun.objects.get(pk=run_id))
    except (BacktestError, MarketDataError, OSError) as exc:
        raise RecomputeError(str(exc)) from exc
    return series, outcome


def _thin(n: int, limit: int) -> np.ndarray:
    """Indexes of at most ``limit`` evenly spread points of ``n``, first and last kept."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).astype(np.int64))


def _candles(klines: Any) -> tuple[list[list[float]], np.ndarray, int]:
    """Candles for the chart (merged ``k`` at a time when there are too many), the open time of
    each chart candle, and ``k``."""
    n = len(klines)
    k = max(1, math.ceil(n / MAX_CANDLES))
    starts = np.arange(0, n, k)
    times = klines.open_time[starts]
    if k == 1:
        opens, highs, lows, closes = klines.open, klines.high, klines.low, klines.close
    else:
        opens = klines.open[starts]
        highs = np.maximum.reduceat(klines.high, starts)
        lows = np.minimum.reduceat(klines.low, starts)
        closes = klines.close[np.minimum(starts + k, n) - 1]
    rows = [
        [int(t) // 1000, float(o), float(h), float(lo), float(c)]
        for t, o, h, lo, c in zip(
            times.tolist(),
            opens.tolist(),
            highs.tolist(),
            lows.tolist(),
            closes.tolist(),
            strict=True,
        )
    ]
    return rows, times, k


def _bar_time(bar_times: np.ndarray, ms: int) -> int:
    """The chart candle holding the moment ``ms`` (seconds), so a marker sits on a candle."""
    i = int(np.searchsorted(bar_times, ms, side="right")) - 1
    return int(bar_times[max(0, min(i, bar_times.size - 1))]) // 1000


_EXIT_LABELS = {
    "stop_loss": "SL",
    "take_profit": "TP",
    "signal": "x",
    "trailing": "trail",
    "liquidation": "LIQ",
    "end": "end",
}


def _markers(trades: Sequence[Any], bar_times: np.ndarray) -> list[dict[str, Any]]:
    markers = []
    for t in trades:
        long = t.side == "long"
        markers.append(
            {
                "time": _bar_time(bar_times, t.entry_time),
                "position": "belowBar" if long else "aboveBar",
                "color": "#1b873f" if long else "#c62828",
                "shape": "arrowUp" if long else "arrowDown",
                "text": "L" if long else "S",
            }
        )
        markers.append(
            {
                "time": _bar_time(bar_times, t.exit_time),
                "position": "aboveBar" if long else "belowBar",
                "color": "#1b873f" if t.pnl >= 0 else "#c62828",
                "shape": "circle",
                "text": _EXIT_LABELS.get(t.exit_reason, t.exit_reason),
            }
        )
    markers.sort(key=lambda m: m["time"])
    return markers


def _heat_colour(value: float | None, scale: float) -> str:
    if value is None:
        return "transparent"
    strength = min(1.0, abs(value) / scale) if scale else 0.0
    alpha = 0.12 + 0.68 * strength
    return f"rgba(27,135,63,{alpha:.2f})" if value >= 0 else f"rgba(198,40,40,{alpha:.2f})"


def monthly_heatmap(monthly: dict[str, float]) -> dict[str, Any]:
    """A year x month table of monthly returns with a colour per cell (green up, red down)."""
    values = {k: _number(v) for k, v in (monthly or {}).items()}
    scale = max((abs(v) for v in values.values() if v is not None), default=0.0)
    years = sorted({k[:4] for k in values})
    rows = []
    for year in years:
        cells = []
        compounded, seen = 1.0, False
        for month in range(1, 13):
            key = f"{year}-{month:02d}"
            value = values.get(key)
            if value is not None:
                compounded *= 1.0 + value
                seen = True
            cells.append(
                {
                    "month": key,
                    "value": value,
                    "text": "" if value is None else fmt_pct(value),
                    "colour": _heat_colour(value, scale),
                }
            )
        rows.append(
            {"year": year, "cells": cells, "year_text": fmt_pct(compounded - 1.0) if seen else ""}
        )
    return {
        "months": [
            "Jan",
            "Feb",
            "Mar",
            "Apr",
            "May",
            "Jun",
            "Jul",
            "Aug",
            "Sep",
            "Oct",
            "Nov",
            "Dec",
        ],
        "rows": rows,
    }


def _trade_rows(trades: Sequence[Any]) -> list[dict[str, str]]:
    rows = []
    for t in list(trades)[-MAX_TRADE_ROWS:][::-1]:
        tick, step = _tick(t.symbol), _step(t.symbol)
        rows.append(
            {
                "symbol": t.symbol,
                "side": t.side,
                "entry_time": ms_to_minute(t.entry_time),
                "exit_time": ms_to_minute(t.exit_time),
                "entry_price": fmt_price(t.entry_price, tick),
                "exit_price": fmt_price(t.exit_price, tick),
                "quantity": fmt_qty(t.quantity, step),
                "exit_reason": t.exit_reason.replace("_", " "),
                "pnl": fmt_money(t.pnl, sign=True),
                "pnl_sign": "up" if t.pnl >= 0 else "down",
                "fees": fmt_money(t.fees),
            }
        )
    return rows


def _equity_points(result: Any) -> tuple[list[list[float]], list[list[float]]]:
    equity = np.asarray(result.equity, dtype=np.float64)
    peak = np.maximum.accumulate(equity)
    drawdown = (equity - peak) / np.where(peak == 0, 1, peak) * 100
    idx = _thin(equity.size, MAX_CHART_POINTS)
    times = (result.open_time[idx] // 1000).tolist()
    return (
        [[t, round(v, 2)] for t, v in zip(times, equity[idx].tolist(), strict=True)],
        [[t, round(v, 3)] for t, v in zip(times, drawdown[idx].tolist(), strict=True)],
    )


def combined_equity(results: Sequence[Any]) -> list[list[float]]:
    """The run's equity over all its symbols (each symbol trades its own capital): the sum,
    each carried forward between its candles, in seconds."""
    if len(results) == 1:
        return _equity_points(results[0])[0]
    times = np.unique(np.concatenate([r.open_time for r in results]))
    total = np.zeros(times.size)
    for r in results:
        i = np.searchsorted(r.open_time, times, side="right") - 1
        values = np.where(i >= 0, r.equity[np.clip(i, 0, None)], r.initial_capital)
        total += values
    idx = _thin(times.size, MAX_CHART_POINTS)
    return [
        [t, round(v, 2)]
        for t, v in zip((times[idx] // 1000).tolist(), total[idx].tolist(), strict=True)
    ]


def backtest_detail(run: BacktestRun) -> dict[str, Any]:
    """The run page: per symbol its headline metrics, monthly heat map, trades, and the chart
    data (``data``: embedded as JSON for the page's script)."""
    context: dict[str, Any] = {
        "run": run,
        "row": backtest_row(run),
        "params": run.parameters,
        "execution": run.execution,
        "fee": fmt_pct(run.fee, places=4),
        "stake": fmt_money(run.stake),
        "cash": fmt_money(run.cash),
        "error": "",
        "warning": "",
        "symbols": [],
        "data": {"run": run.pk, "status": run.status, "symbols": []},
    }
    if run.status != BacktestRun.Status.DONE:
        return context
    try:
        series, outcome = _recompute(run.pk, run.finished_at.isoformat() if run.finished_at else "")
    except RecomputeError as exc:
        context["error"] = f"cannot load the run's data again: {exc}"
        return context
    if len(outcome.trades) != run.trade_count or outcome.summary["candles"] != run.summary.get(
        "candles", outcome.summary["candles"]
    ):
        context["warning"] = (
            f"recomputed {len(outcome.trades)} trades on {outcome.summary['candles']} candles, "
            f"the run stored {run.trade_count} trades on {run.summary.get('candles')}: the data "
            "or the code changed since it ran"
        )
    by_key = {f"{k.symbol}-{k.interval}": k for k in series}
    for result in outcome.results:
        key = f"{result.symbol}-{result.interval}"
        klines = by_key[key]
        candles, bar_times, merged = _candles(klines)
        trades = result.trade_records()
        equity, drawdown = _equity_points(result)
        metrics = run.metrics.get(key) or _finite_dict(result.metrics.as_dict())
        context["symbols"].append(
            {
                "key": key,
                "symbol": result.symbol,
                "interval": result.interval,
                "metrics": headline_metrics(metrics),
                "heatmap": monthly_heatmap(metrics.get("monthly_returns") or {}),
                "trades": _trade_rows(trades),
                "trade_count": len(trades),
                "merged": merged,
            }
        )
        context["data"]["symbols"].append(
            {
                "key": key,
                "symbol": result.symbol,
                "interval": result.interval,
                "points": int(result.equity.size),
                "equity": equity,
                "drawdown": drawdown,
                "candles": candles,
                "candles_merged": merged,
                "markers": _markers(trades, bar_times),
                "price_format": _price_format(result.symbol),
            }
        )
    return context


def _price_format(symbol: str) -> dict[str, Any]:
    tick = _tick(symbol)
    if tick is None:
        return {"type": "price", "precision": 4, "minMove": 0.0001}
    places = max(0, -tick.normalize().as_tuple().exponent)
    return {"type": "price", "precision": places, "minMove": float(tick)}


def _finite_dict(values: dict[str, Any]) -> dict[str, Any]:
    return {
        k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in values.items()
    }


# --- two runs side by side -----------------------------------------------------------------------


def _aggregate_metrics(run: BacktestRun) -> dict[str, Any]:
    """One set of figures per run: the symbol's own when it has one, else the whole run's."""
    if len(run.metrics) == 1:
        return next(iter(run.metrics.values()))
    summary = run.summary or {}
    by_mode = (summary.get("by_mode") or {}).get(summary.get("mode")) or {}
    n = max(1, len(run.metrics))
    final = sum(float(m.get("final_equity") or 0.0) for m in run.metrics.values())
    return {
        "total_return": _run_return(run),
        "max_drawdown": max(
            (float(m.get("max_drawdown") or 0.0) for m in run.metrics.values()), default=None
        ),
        "win_rate": by_mode.get("win_rate"),
        "profit_factor": by_mode.get("profit_factor"),
        "expectancy": by_mode.get("expectancy"),
        "n_trades": run.trade_count,
        "final_equity": final if run.metrics else float(run.cash) * n,
        "funding_paid": summary.get("funding_paid"),
    }


COMPARE_ROWS = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "max_drawdown",
    "win_rate",
    "profit_factor",
    "expectancy",
    "n_trades",
    "final_equity",
    "funding_paid",
)


def backtest_compare(a: BacktestRun, b: BacktestRun) -> dict[str, Any]:
    """Both runs' settings and headline figures in one table, and both equity curves."""
    figures = {run.pk: _aggregate_metrics(run) for run in (a, b)}
    shown = {key: (label, fmt) for key, label, fmt in HEADLINE}
    rows = [
        {"label": "Strategy", "a": a.strategy, "b": b.strategy},
        {"label": "Symbols", "a": ", ".join(_run_symbols(a)), "b": ", ".join(_run_symbols(b))},
        {"label": "Interval", "a": _run_interval(a), "b": _run_interval(b)},
        {"label": "Dates", "a": backtest_row(a)["dates"], "b": backtest_row(b)["dates"]},
        {"label": "Parameters", "a": _params_text(a.parameters), "b": _params_text(b.parameters)},
        {"label": "Fee", "a": fmt_pct(a.fee, places=4), "b": fmt_pct(b.fee, places=4)},
        {"label": "Stake", "a": fmt_money(a.stake), "b": fmt_money(b.stake)},
        {"label": "PnL", "a": _money(a.total_pnl, sign=True), "b": _money(b.total_pnl, sign=True)},
    ]
    for key in COMPARE_ROWS:
        label, fmt = shown[key]
        va, vb = figures[a.pk].get(key), figures[b.pk].get(key)
        if va is None and vb is None:
            continue
        rows.append({"label": label, "a": fmt(va), "b": fmt(vb), "key": key})
    curves = []
    errors = []
    for name, run in (("A", a), ("B", b)):
        try:
            _, outcome = _recompute(run.pk, run.finished_at.isoformat() if run.finished_at else "")
        except RecomputeError as exc:
            errors.append(f"run {run.pk}: cannot load its data again: {exc}")
            continue
        curves.append(
            {
                "name": f"{name}: #{run.pk} {run.strategy} {', '.join(_run_symbols(run))}",
                "run": run.pk,
                "equity": combined_equity(outcome.results),
            }
        )
    return {"rows": rows, "data": {"curves": curves}, "errors": errors}


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict) and {"low", "high"} <= set(value):
        return f"{_value_text(value['low'])}..{_value_text(value['high'])}"
    if isinstance(value, list | tuple):
        return "|".join(_value_text(v) for v in value)
    return str(value)


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_value_text(v)}" for k, v in (params or {}).items())


# --- one optimisation ----------------------------------------------------------------------------


def _window_times(run: OptimizationRun, count: int) -> list[int]:
    """Each window's test start (seconds), from the first candle and the window geometry: the
    chart's x axis, increasing even while the run has not written its window dates yet."""
    first = _first_fingerprint(run).get("first_open_time")
    interval = run.interval or ""
    try:
        step_ms = interval_to_ms(interval)
    except (ValueError, KeyError, TypeError):
        step_ms = 0
    if first is None or not step_ms:
        base = int(run.start_ms or 0) // 1000 or 946_684_800  # 2000-01-01
        return [base + i * 86_400 for i in range(count)]
    step = run.step_candles or run.test_candles
    return [
        (int(first) + (run.warmup_candles + i * step + run.train_candles) * step_ms) // 1000
        for i in range(count)
    ]


def optimization_windows(run: OptimizationRun) -> list[dict[str, Any]]:
    """Per window: its dates (once the run is done), the best in-sample objective so far and
    that trial's out-of-sample objective, and how many of its trials are complete."""
    count = optimization_window_count(run)
    stored = {w.get("window", i): w for i, w in enumerate(run.windows or [])}
    best: dict[int, OptimizationTrial] = {}
    complete: dict[int, int] = {}
    trials = run.trials.filter(state=OptimizationTrial.State.COMPLETE).only(
        "window", "number", "value", "out_of_sample_value", "params"
    )
    for trial in trials.order_by("window", "-value", "number"):
        complete[trial.window] = complete.get(trial.window, 0) + 1
        best.setdefault(trial.window, trial)
    count = max([count, *(w + 1 for w in complete), *(w + 1 for w in stored)])
    times = _window_times(run, count)
    rows = []
    for index in range(count):
        row = stored.get(index)
        trial = best.get(index)
        if row is not None:
            in_sample, oos = row.get("in_sample"), row.get("out_of_sample")
            params, train, test = row.get("best_params"), row.get("train", ""), row.get("test", "")
        else:
            in_sample = trial.value if trial else None
            oos = trial.out_of_sample_value if trial else None
            params, train, test = (trial.params if trial else None), "", ""
        rows.append(
            {
                "window": index,
                "time": times[index],
                "train": train,
                "test": test,
                "in_sample": _number(in_sample),
                "out_of_sample": _number(oos),
                "in_sample_text": fmt_ratio(in_sample),
                "out_of_sample_text": fmt_ratio(oos),
                "params": _params_text(params or {}),
                "complete": complete.get(index, 0),
            }
        )
    return rows


def optimization_detail(run: OptimizationRun) -> dict[str, Any]:
    windows = optimization_windows(run)
    return {
        "run": run,
        "row": optimization_row(run),
        "windows": windows,
        "space": _params_text(run.space),
        "best_params": _params_text(run.best_params),
        "data": optimization_data(run, windows),
    }


_WINDOW_KEYS = (
    "window",
    "time",
    "in_sample",
    "out_of_sample",
    "complete",
    "in_sample_text",
    "out_of_sample_text",
    "train",
    "test",
    "params",
)


def optimization_data(run: OptimizationRun, windows: list[dict[str, Any]] | None = None) -> dict:
    """The optimisation page's JSON (embedded, and polled while the run is not finished)."""
    windows = optimization_windows(run) if windows is None else windows
    return {
        "run": run.pk,
        "objective": run.objective,
        "progress": optimization_progress(run),
        "windows": [{k: w[k] for k in _WINDOW_KEYS} for w in windows],
        "mean_in_sample": fmt_ratio(run.mean_in_sample),
        "mean_out_of_sample": fmt_ratio(run.mean_out_of_sample),
    }
