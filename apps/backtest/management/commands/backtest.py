from __future__ import annotations

import csv
import json
import math
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.backtest.domain.ema_cross import EmaCrossParams
from apps.backtest.domain.engine import BacktestResult, backtest_ema_cross
from apps.market.data import Klines, MarketDataError, load_klines
from apps.market.domain.indicators import set_numba_enabled
from apps.strategies.domain.params import ParameterError, validate_parameters

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


def _ms(value: str, option: str) -> int:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{option}: not an ISO date: {value!r}") from exc
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _finite(value: Any) -> Any:
    """JSON has no inf/nan: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


class Command(BaseCommand):
    help = (
        "Backtest a strategy on kline CSV files (the shipped format or Binance public data, "
        "gzipped or not). Today the event-jumping kernel covers ema_cross."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--strategy", default="ema_cross", help="strategy kind")
        parser.add_argument("--params", default="{}", help="strategy parameters as JSON")
        parser.add_argument("--data", nargs="+", required=True, metavar="FILE")
        parser.add_argument("--fee", type=float, default=0.0004, help="fee per side (fraction)")
        parser.add_argument("--stake", type=float, default=1000.0, help="quote amount per trade")
        parser.add_argument("--cash", type=float, default=10000.0, help="starting capital")
        parser.add_argument("--slippage", default="none", choices=["none"])
        parser.add_argument("--symbols", nargs="*", default=None, help="only these symbols")
        parser.add_argument("--start", default="", help="ISO date: first candle")
        parser.add_argument("--end", default="", help="ISO date: candles before it")
        parser.add_argument("--trades-out", default="", help="write the trades to this CSV")
        parser.add_argument("--json", dest="json_out", default="", help="write results here")
        parser.add_argument(
            "--jit",
            action="store_true",
            help="compile the EMA recursions with numba: pays ~0.3 s of start-up, so it helps "
            "only when one process runs many backtests (the plain path is faster for one run)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["strategy"] != "ema_cross":
            raise CommandError(
                f"no backtest kernel for strategy {options['strategy']!r} yet (ema_cross only)"
            )
        try:
            raw = json.loads(options["params"])
            values = validate_parameters("ema_cross", raw)
            params = EmaCrossParams(
                fast=values["fast"],
                slow=values["slow"],
                warmup=values["warmup"],
                stop_loss=values["sl"],
                take_profit=values["tp"],
                stake=options["stake"],
                fee=options["fee"],
            )
        except json.JSONDecodeError as exc:
            raise CommandError(f"--params is not JSON: {exc}") from exc
        except (ParameterError, ValueError) as exc:
            raise CommandError(f"--params: {exc}") from exc
        series = self._load(options)
        set_numba_enabled(options["jit"])
        started = time.perf_counter()
        results: list[BacktestResult] = []
        for i, klines in enumerate(series, start=1):
            results.append(backtest_ema_cross(klines, params, initial_capital=options["cash"]))
            sys.stderr.write(f"\r[{i}/{len(series)}] {klines.symbol} {klines.interval}")
        engine_seconds = time.perf_counter() - started
        sys.stderr.write("\n")
        trades = [t for r in results for t in r.trade_records()]
        if options["trades_out"]:
            self._write_trades(Path(options["trades_out"]), trades)
        summary = {
            "strategy": "ema_cross",
            "params": {**values, "fee": options["fee"], "stake": options["stake"]},
            "cash": options["cash"],
            "trades": len(trades),
            "candles": int(sum(len(s) for s in series)),
            "engine_seconds": engine_seconds,
            "total_pnl": float(sum(t.pnl for t in trades)),
            "symbols": {f"{r.symbol}-{r.interval}": _finite(r.metrics.as_dict()) for r in results},
        }
        if options["json_out"]:
            Path(options["json_out"]).write_text(json.dumps(summary, indent=2))
        rate = summary["candles"] / engine_seconds if engine_seconds > 0 else float("inf")
        self.stdout.write(
            f"{summary['trades']} trades on {summary['candles']:,} candles, net PnL "
            f"{summary['total_pnl']:.2f}, engine {engine_seconds:.3f} s ({rate / 1e6:.1f} M "
            "candles/s)"
        )

    def _load(self, options: dict[str, Any]) -> list[Klines]:
        wanted = {s.upper() for s in options["symbols"]} if options["symbols"] else None
        start = _ms(options["start"], "--start") if options["start"] else None
        end = _ms(options["end"], "--end") if options["end"] else None
        series = []
        for name in options["data"]:
            try:
                klines = load_klines(name)
            except MarketDataError as exc:
                raise CommandError(str(exc)) from exc
            if wanted is not None and klines.symbol not in wanted:
                continue
            first = 0 if start is None else int(np.searchsorted(klines.open_time, start))
            last = len(klines) if end is None else int(np.searchsorted(klines.open_time, end))
            klines = klines.slice(first, last)
            if len(klines) == 0:
                raise CommandError(f"{name}: no candles in the selected dates")
            series.append(klines)
        if not series:
            raise CommandError("no data left after --symbols")
        return series

    @staticmethod
    def _write_trades(path: Path, trades: list[Any]) -> None:
        with path.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(TRADE_COLUMNS)
            for t in trades:
                writer.writerow([getattr(t, column) for column in TRADE_COLUMNS])
