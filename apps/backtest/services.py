"""Running backtests on kline files: one service for the command, the API and the worker."""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from apps.backtest.research.domain.candles import interval_to_ms
from apps.backtest.research.domain.ema_cross import EmaCrossParams
from apps.backtest.research.domain.engine import (
    BacktestResult,
    backtest_ema_cross,
    backtest_strategy,
)
from apps.backtest.research.domain.kernel import Trade, TradeLog
from apps.backtest.research.domain.metrics import avg_slippage_bps, trade_stats
from apps.backtest.research.domain.signal_kernel import (
    JIT_MIN_CANDLES,
    BookSlippage,
    ExecutionParams,
)
from apps.exchange.domain.fees import DEFAULT_MAKER_FEE
from apps.market.data import Klines, load_klines
from apps.market.domain.indicators import set_numba_enabled
from apps.strategies.domain.base import StrategyError
from apps.strategies.domain.params import SCHEMAS, ParameterError, validate_parameters
from apps.strategies.domain.registry import build_strategy

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
    "side",
    "slippage_bps",
)
#: strategies that do not trade on candles: nothing to backtest
NOT_BACKTESTABLE = {"signal": "it acts on external signals (the webhook), not on candles"}


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
    progress: Callable[[str], None] | None = None,
) -> list[Klines]:
    """Load kline files, keep the chosen symbols and the candles in [start_ms, end_ms);
    ``progress`` is told each file's name before it loads."""
    wanted = {s.upper() for s in symbols} if symbols else None
    series = []
    for name in paths:
        if progress is not None:
            progress(Path(name).name)
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


def series_db_load(
    *,
    symbols: list[str],
    interval: str,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> list[Klines]:
    """Load imported candles (the ``Kline`` table) of ``symbols`` in [start_ms, end_ms)."""
    from apps.market.selectors import klines_window

    if not symbols:
        raise BacktestError("--symbols is required to backtest on imported candles")
    series = []
    for symbol in (s.upper() for s in symbols):
        klines = klines_window(
            symbol=symbol,
            interval=interval,
            end_ms=None if end_ms is None else end_ms - 1,
            limit=10_000_000,
        )
        first = 0 if start_ms is None else int(np.searchsorted(klines.open_time, start_ms))
        klines = klines.slice(first, len(klines))
        if len(klines) == 0:
            raise BacktestError(
                f"no imported {symbol} {interval} candles in the selected dates "
                "(python manage.py import_klines FILE)"
            )
        series.append(klines)
    return series


def funding_db_load(*, symbols: list[str]) -> dict[str, tuple[Any, Any]]:
    """Funding history of ``symbols`` from the ``FundingRate`` table (ms times, float rates)."""
    from apps.market.models import FundingRate

    out = {}
    for symbol in (s.upper() for s in symbols):
        rows = list(
            FundingRate.objects.filter(symbol=symbol)
            .order_by("funding_time")
            .values_list("funding_time", "rate")
        )
        if rows:
            out[symbol] = (
                np.array([t for t, _ in rows], dtype=np.int64),
                np.array([float(r) for _, r in rows], dtype=np.float64),
            )
    return out


def _split_params(strategy: str, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The strategy's validated parameters, and the fallback ``sl`` / ``tp`` fractions given for
    a strategy whose schema has none (``ema_cross`` keeps them as its own parameters)."""
    if strategy in NOT_BACKTESTABLE:
        raise BacktestError(
            f"strategy {strategy!r} cannot be backtested: {NOT_BACKTESTABLE[strategy]}"
        )
    if strategy not in SCHEMAS:
        known_kinds = ", ".join(sorted(set(SCHEMAS) - set(NOT_BACKTESTABLE)))
        raise BacktestError(f"unknown strategy {strategy!r} (known: {known_kinds})")
    if not isinstance(params, dict):
        raise BacktestError(f"params: parameters of {strategy} must be a JSON object")
    known = {p.name for p in SCHEMAS[strategy].params}
    own = {k: v for k, v in params.items() if k in known or k not in ("sl", "tp")}
    fallback = {k: params[k] for k in ("sl", "tp") if k in params and k not in known}
    try:
        values = validate_parameters(strategy, own)
        for name, value in fallback.items():
            number = float(value)
            if not (0.0 < number < 1.0 if name == "sl" else number > 0.0):
                raise ParameterError(
                    f"{name} must be {'in (0, 1)' if name == 'sl' else '> 0'}, got {value!r}"
                )
            fallback[name] = number
    except (ValueError, TypeError) as exc:
        raise BacktestError(f"params: {exc}") from exc
    return values, fallback


def backtest_check(
    *,
    strategy: str,
    params: dict[str, Any],
    fee: float,
    stake: float,
    maker_fee: float | None = DEFAULT_MAKER_FEE,
    leverage: float = 1.0,
    maintenance_margin: float = 0.004,
    slippage: str = "none",
    intrabar: str = "stop_first",
) -> tuple[dict[str, Any], dict[str, Any], ExecutionParams, EmaCrossParams | None]:
    """Validate a backtest's strategy, parameters and execution options (before any data is
    loaded); return the strategy's values, the fallback sl / tp, the execution parameters and
    the ``ema_cross`` fast path's configuration. Raise ``BacktestError`` in one line."""
    values, fallback = _split_params(strategy, params)
    if slippage not in ("none", "book"):
        raise BacktestError(f"slippage must be none or book, got {slippage!r}")
    ema = strategy == "ema_cross"
    try:
        execution = ExecutionParams(
            stake=stake,
            fee=fee,
            maker_fee=maker_fee,
            leverage=leverage,
            maintenance_margin=maintenance_margin,
            slippage=BookSlippage.from_depth_model() if slippage == "book" else None,
            intrabar=intrabar,  # type: ignore[arg-type]
            stop_loss=values["sl"] if ema else fallback.get("sl"),
            take_profit=values["tp"] if ema else fallback.get("tp"),
        )
        config = (
            EmaCrossParams(
                fast=values["fast"],
                slow=values["slow"],
                warmup=values["warmup"],
                stop_loss=values["sl"],
                take_profit=values["tp"],
                stake=stake,
                fee=fee,
                maker_fee=maker_fee,
            )
            if ema
            else None
        )
    except ValueError as exc:
        raise BacktestError(str(exc)) from exc
    return values, fallback, execution, config


def backtest_series(
    *,
    strategy: str,
    params: dict[str, Any],
    series: list[Klines],
    fee: float,
    stake: float,
    cash: float,
    jit: bool | None = None,
    funding: dict[str, tuple[Any, Any]] | None = None,
    maker_fee: float | None = DEFAULT_MAKER_FEE,
    leverage: float = 1.0,
    maintenance_margin: float = 0.004,
    slippage: str = "none",
    intrabar: str = "stop_first",
    fine: dict[str, Klines] | None = None,
    mode: str = "",
    progress: Callable[[str], None] | None = None,
    ai: Any = None,
) -> BacktestOutcome:
    """Backtest ``strategy`` on each series; return results, trades and a JSON summary.

    ``ai`` (a HybridAI): with ``strategy="ai"`` the AI drives the trades (the ``driver``
    role); with a rule strategy it must confirm each entry (the ``filter`` role).

    Any registered strategy runs with its own ``signals`` (``backtest_strategy``); ``ema_cross``
    with no slippage, leverage 1 and ``stop_first`` keeps its batch fast path (same trades).
    ``maker_fee`` is the take-profits' fee (``None``: ``fee``), by default the platform's.
    ``funding`` maps a symbol to its (funding times ms, rates); symbols without it pay
    none. ``fine`` maps a symbol to finer candles for ``intrabar="finer"``. ``mode`` labels the
    run in the per-mode figures (default: the strategy kind).
    """
    values, fallback, execution, config = backtest_check(
        strategy=strategy,
        params=params,
        fee=fee,
        stake=stake,
        maker_fee=maker_fee,
        leverage=leverage,
        maintenance_margin=maintenance_margin,
        slippage=slippage,
        intrabar=intrabar,
    )
    ema = config is not None
    fast_path = (
        config is not None
        and ai is None
        and execution.slippage is None
        and execution.leverage == 1.0
        and execution.intrabar == "stop_first"
    )
    label = mode or strategy
    # The indicator recursions (EMA, Wilder) compiled with numba or in plain Python: the same
    # numbers bit for bit. By default they are compiled exactly when the kernel's loop is (long
    # runs, where numba is imported and loaded anyway); ``jit`` True / False forces it.
    candles = sum(len(k) for k in series)
    set_numba_enabled(jit if jit is not None else candles >= JIT_MIN_CANDLES)
    instance = build_strategy(strategy, values, ai=ai if strategy == "ai" else None)
    if ai is not None and strategy != "ai":
        from apps.strategies.domain.ai_driver import AiFilteredStrategy

        instance = AiFilteredStrategy(instance, ai)
    started = time.perf_counter()
    results = []
    for k in series:
        if progress is not None:
            progress(f"{k.symbol}-{k.interval}")
        symbol_funding = (funding or {}).get(k.symbol)
        if fast_path:
            results.append(
                backtest_ema_cross(k, config, initial_capital=cash, funding=symbol_funding)
            )
            continue
        try:
            result = backtest_strategy(
                k,
                instance,
                execution,
                initial_capital=cash,
                funding=symbol_funding,
                fine=(fine or {}).get(k.symbol) if intrabar == "finer" else None,
                frame_levels=not ema,
                mode=label,
            )
        except (StrategyError, ValueError) as exc:
            raise BacktestError(f"{k.symbol}-{k.interval}: {exc}") from exc
        results.append(result)
    engine_seconds = time.perf_counter() - started
    trades = [t for r in results for t in r.trade_records()]
    everything = TradeLog.concat([r.trades for r in results])
    summary = {
        "strategy": strategy,
        "mode": label,
        "params": {**values, **fallback, "fee": fee, "stake": stake},
        "execution": {
            "engine": "ema_cross batch" if fast_path else "signal kernel",
            "fee": execution.fee,
            "maker_fee": execution.effective_maker_fee,
            "leverage": execution.leverage,
            "maintenance_margin": execution.maintenance_margin,
            "slippage": slippage,
            "intrabar": intrabar,
        },
        "cash": cash,
        "trades": len(trades),
        "candles": int(sum(len(s) for s in series)),
        "first_open_time": int(min(int(s.open_time[0]) for s in series)),
        "last_open_time": int(max(int(s.open_time[-1]) for s in series)),
        "engine_seconds": engine_seconds,
        "total_pnl": float(sum(t.pnl for t in trades)),
        "funding_paid": float(sum(r.funding_paid for r in results)),
        "avg_slippage_bps": avg_slippage_bps(everything),
        "symbols": {
            f"{r.symbol}-{r.interval}": {
                **_finite(r.metrics.as_dict()),
                "funding_paid": r.funding_paid,
                "by_side": _by_side(r.trades),
                **({"intrabar": r.intrabar} if r.intrabar else {}),
            }
            for r in results
        },
        "by_side": _by_side(everything),
        "by_mode": {
            label: {
                **_finite(trade_stats(everything)),
                "symbols": [f"{r.symbol}-{r.interval}" for r in results],
                "by_side": _by_side(everything),
            }
        },
    }
    return BacktestOutcome(results, trades, summary)


def _by_side(trades: TradeLog) -> dict[str, Any]:
    sides = trades.sides()
    return {
        "long": _finite(trade_stats(trades, sides > 0)),
        "short": _finite(trade_stats(trades, sides < 0)),
    }


def fine_load(
    *, paths: list[str], spec: list[str] | None, series: list[Klines]
) -> dict[str, Klines]:
    """Finer candles per symbol for ``intrabar="finer"``: the given files, or (``spec`` empty)
    the ``SYMBOL-1m`` file next to each data file where there is one. Only candles of a shorter
    interval than the series of that symbol are kept; symbols without any use ``path``."""
    files: list[Path] = []
    if spec:
        files = [Path(f) for f in spec]
    else:
        for name in paths:
            symbol = Path(name).name.split("-", 1)[0]
            for suffix in (".csv.gz", ".csv"):
                candidate = Path(name).with_name(f"{symbol}-1m{suffix}")
                if candidate.exists() and candidate != Path(name):
                    files.append(candidate)
                    break
    coarse = {k.symbol: interval_to_ms(k.interval) for k in series}
    out: dict[str, Klines] = {}
    for path in files:
        klines = load_klines(path)
        if klines.symbol not in coarse:
            continue
        if interval_to_ms(klines.interval) >= coarse[klines.symbol]:
            if spec:
                raise BacktestError(
                    f"{path}: {klines.interval} is not finer than the {klines.symbol} data"
                )
            continue
        out[klines.symbol] = klines
    return out


def data_file_resolve(name: str) -> Path:
    """A data file named relative to ``SHARED_DATA_DIR``; refuse anything outside it."""
    from django.conf import settings

    root = Path(settings.SHARED_DATA_DIR).resolve()
    path = (root / name).resolve()
    if root not in path.parents or not path.is_file():
        raise BacktestError(f"unknown data file {name!r} (name a file under the data directory)")
    return path


def backtest_run_recompute(run: Any) -> tuple[list[Klines], BacktestOutcome]:
    """Load a BacktestRun's data and run it (deterministic: the report recomputes the same)."""
    series = series_load(
        paths=[str(data_file_resolve(name)) for name in run.data_files],
        symbols=run.symbols or None,
        start_ms=run.start_ms,
        end_ms=run.end_ms,
    )
    execution = run.execution or {}
    outcome = backtest_series(
        strategy=run.strategy,
        params=run.parameters,
        series=series,
        fee=float(run.fee),
        stake=float(run.stake),
        cash=float(run.cash),
        maker_fee=None if execution.get("maker_fee") is None else float(execution["maker_fee"]),
        leverage=float(execution.get("leverage", 1)),
        maintenance_margin=float(execution.get("maintenance_margin", 0.004)),
        slippage=execution.get("slippage", "none"),
        intrabar=execution.get("intrabar", "stop_first"),
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
        _, outcome = backtest_run_recompute(run)
    except (BacktestError, MarketDataError) as exc:
        run.status, run.error, run.finished_at = BacktestRun.Status.FAILED, str(exc), timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
        return run
    summary = outcome.summary
    run.status = BacktestRun.Status.DONE
    run.metrics = summary["symbols"]
    run.summary = {k: v for k, v in summary.items() if k != "symbols"}
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
    from apps.backtest.reports.html import backtest_report_html

    series, outcome = backtest_run_recompute(BacktestRun.objects.get(pk=run_id))
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
