"""Running backtests on kline files: one service for the command, the API and the worker."""

from __future__ import annotations

import math
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from apps.backtest.domain.ema_cross import EmaCrossParams
from apps.backtest.domain.engine import BacktestResult, backtest_ema_cross
from apps.backtest.domain.kernel import Trade
from apps.market.data import Klines, load_klines
from apps.market.domain.indicators import set_numba_enabled
from apps.strategies.domain.params import validate_parameters

TRADE_COLUMNS = (
    "symbol",
    "entry_time",
    "exit_time",
    "entry_price",
    "exit_price",
    "quantity",
    "exit_reason",
    "pnl",
    "fees",
)


class BacktestError(ValueError):
    """The backtest cannot run as asked; the message says why in one line."""


@dataclass(frozen=True, slots=True)
class BacktestOutcome:
    results: list[BacktestResult]
    trades: list[Trade]
    summary: dict[str, Any]


def _finite(value: Any) -> Any:
    """JSON has no inf/nan: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def code_version() -> str:
    """The git commit of the running code (``unknown`` outside a checkout)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def series_load(
    *,
    paths: list[str],
    symbols: list[str] | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> list[Klines]:
    """Load kline files, keep the chosen symbols and the candles in [start_ms, end_ms)."""
    wanted = {s.upper() for s in symbols} if symbols else None
    series = []
    for name in paths:
        klines = load_klines(name)  # MarketDataError names file and line
        if wanted is not None and klines.symbol not in wanted:
            continue
        first = 0 if start_ms is None else int(np.searchsorted(klines.open_time, start_ms))
        last = len(klines) if end_ms is None else int(np.searchsorted(klines.open_time, end_ms))
        klines = klines.slice(first, last)
        if len(klines) == 0:
            raise BacktestError(f"{name}: no candles in the selected dates")
        series.append(klines)
    if not series:
        raise BacktestError("no data left after the symbol filter")
    return series


def backtest_series(
    *,
    strategy: str,
    params: dict[str, Any],
    series: list[Klines],
    fee: float,
    stake: float,
    cash: float,
    jit: bool = False,
    funding: dict[str, tuple[Any, Any]] | None = None,
) -> BacktestOutcome:
    """Backtest ``strategy`` on each series; return results, trades and a JSON summary.

    ``funding`` maps a symbol to its (funding times ms, rates); symbols without it pay none.
    """
    if strategy != "ema_cross":
        raise BacktestError(f"no backtest kernel for strategy {strategy!r} yet (ema_cross only)")
    try:
        values = validate_parameters("ema_cross", params)
        config = EmaCrossParams(
            fast=values["fast"],
            slow=values["slow"],
            warmup=values["warmup"],
            stop_loss=values["sl"],
            take_profit=values["tp"],
            stake=stake,
            fee=fee,
        )
    except ValueError as exc:
        raise BacktestError(f"params: {exc}") from exc
    set_numba_enabled(jit)
    started = time.perf_counter()
    results = [
        backtest_ema_cross(k, config, initial_capital=cash, funding=(funding or {}).get(k.symbol))
        for k in series
    ]
    engine_seconds = time.perf_counter() - started
    trades = [t for r in results for t in r.trade_records()]
    summary = {
        "strategy": strategy,
        "params": {**values, "fee": fee, "stake": stake},
        "cash": cash,
        "trades": len(trades),
        "candles": int(sum(len(s) for s in series)),
        "first_open_time": int(min(int(s.open_time[0]) for s in series)),
        "last_open_time": int(max(int(s.open_time[-1]) for s in series)),
        "engine_seconds": engine_seconds,
        "total_pnl": float(sum(t.pnl for t in trades)),
        "funding_paid": float(sum(r.funding_paid for r in results)),
        "symbols": {
            f"{r.symbol}-{r.interval}": {
                **_finite(r.metrics.as_dict()),
                "funding_paid": r.funding_paid,
            }
            for r in results
        },
    }
    return BacktestOutcome(results, trades, summary)


def data_file_resolve(name: str) -> Path:
    """A data file named relative to ``SHARED_DATA_DIR``; refuse anything outside it."""
    from django.conf import settings

    root = Path(settings.SHARED_DATA_DIR).resolve()
    path = (root / name).resolve()
    if root not in path.parents or not path.is_file():
        raise BacktestError(f"unknown data file {name!r} (name a file under the data directory)")
    return path


def _run_backtest(run: Any) -> tuple[list[Klines], BacktestOutcome]:
    """Load a BacktestRun's data and run it (deterministic: the report recomputes the same)."""
    series = series_load(
        paths=[str(data_file_resolve(name)) for name in run.data_files],
        symbols=run.symbols or None,
        start_ms=run.start_ms,
        end_ms=run.end_ms,
    )
    outcome = backtest_series(
        strategy=run.strategy,
        params=run.parameters,
        series=series,
        fee=float(run.fee),
        stake=float(run.stake),
        cash=float(run.cash),
    )
    return series, outcome


def backtest_run_execute(*, run_id: int) -> Any:
    """Run a queued ``BacktestRun`` and store its figures and trades (or its one-line error)."""
    from django.utils import timezone

    from apps.backtest.models import BacktestRun
    from apps.market.data import MarketDataError

    run = BacktestRun.objects.get(pk=run_id)
    if run.status not in (BacktestRun.Status.QUEUED, BacktestRun.Status.FAILED):
        return run
    run.status = BacktestRun.Status.RUNNING
    run.code_version = code_version()
    run.save(update_fields=["status", "code_version"])
    try:
        _, outcome = _run_backtest(run)
    except (BacktestError, MarketDataError) as exc:
        run.status, run.error, run.finished_at = BacktestRun.Status.FAILED, str(exc), timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
        return run
    summary = outcome.summary
    run.status = BacktestRun.Status.DONE
    run.metrics = summary["symbols"]
    run.trades = [{c: getattr(t, c) for c in TRADE_COLUMNS} for t in outcome.trades]
    run.trade_count = summary["trades"]
    run.total_pnl = round(summary["total_pnl"], 8)
    run.engine_seconds = summary["engine_seconds"]
    run.first_open_time = summary["first_open_time"]
    run.last_open_time = summary["last_open_time"]
    run.finished_at = timezone.now()
    run.error = ""
    run.save()
    return run


def backtest_run_report(*, run_id: int) -> str:
    """The HTML report of a finished run, recomputed from its stored inputs (deterministic)."""
    from apps.backtest.models import BacktestRun
    from apps.backtest.report import backtest_report_html

    series, outcome = _run_backtest(BacktestRun.objects.get(pk=run_id))
    closes = {f"{k.symbol}-{k.interval}": k.close for k in series}
    return backtest_report_html(results=outcome.results, closes=closes)


def funding_load(*, paths: list[str], spec: list[str]) -> dict[str, tuple[Any, Any]]:
    """Funding series for the backtest: ``["none"]``, ``["auto"]`` (the ``SYMBOL-funding``
    file next to each data file) or explicit funding files."""
    from apps.market.data import load_funding

    if not spec or spec == ["none"]:
        return {}
    files: list[Path] = []
    if spec == ["auto"]:
        for name in paths:
            symbol = Path(name).name.split("-", 1)[0]
            candidate = Path(name).with_name(f"{symbol}-funding.csv.gz")
            if not candidate.exists():
                raise BacktestError(f"--funding auto: no {candidate.name} next to {name}")
            files.append(candidate)
    else:
        files = [Path(f) for f in spec]
    out = {}
    for path in files:
        rates = load_funding(path)
        out[rates.symbol] = (rates.funding_time, rates.funding_rate)
    return out
