from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.backtest.services import (
    TRADE_COLUMNS,
    BacktestError,
    backtest_series,
    funding_load,
    series_load,
)
from apps.market.data import MarketDataError


def _ms(value: str, option: str) -> int:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{option}: not an ISO date: {value!r}") from exc
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


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
        parser.add_argument("--report", default="", help="write an HTML report here")
        parser.add_argument(
            "--funding",
            nargs="+",
            default=["none"],
            help="none (default), auto (the SYMBOL-funding file next to each data file), or "
            "funding files",
        )
        parser.add_argument(
            "--jit",
            action="store_true",
            help="compile the EMA recursions with numba: pays ~0.3 s of start-up, so it helps "
            "only when one process runs many backtests (the plain path is faster for one run)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            params = json.loads(options["params"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--params is not JSON: {exc}") from exc
        start = _ms(options["start"], "--start") if options["start"] else None
        end = _ms(options["end"], "--end") if options["end"] else None
        try:
            series = series_load(
                paths=options["data"], symbols=options["symbols"], start_ms=start, end_ms=end
            )
            funding = funding_load(paths=options["data"], spec=options["funding"])
            sys.stderr.write(f"loaded {len(series)} series; running the engine ...\n")
            outcome = backtest_series(
                strategy=options["strategy"],
                params=params,
                series=series,
                fee=options["fee"],
                stake=options["stake"],
                cash=options["cash"],
                jit=options["jit"],
                funding=funding,
            )
        except BacktestError as exc:
            message = str(exc)
            raise CommandError(
                f"--{message}" if message.startswith("params:") else message
            ) from exc
        except MarketDataError as exc:
            raise CommandError(str(exc)) from exc
        if options["trades_out"]:
            self._write_trades(Path(options["trades_out"]), outcome.trades)
        if options["report"]:
            from apps.backtest.report import backtest_report_html

            closes = {f"{k.symbol}-{k.interval}": k.close for k in series}
            Path(options["report"]).write_text(
                backtest_report_html(results=outcome.results, closes=closes)
            )
        summary = outcome.summary
        if options["json_out"]:
            Path(options["json_out"]).write_text(json.dumps(summary, indent=2))
        seconds = summary["engine_seconds"]
        rate = summary["candles"] / seconds if seconds > 0 else float("inf")
        self.stdout.write(
            f"{summary['trades']} trades on {summary['candles']:,} candles, net PnL "
            f"{summary['total_pnl']:.2f}, engine {seconds:.3f} s ({rate / 1e6:.1f} M candles/s)"
        )

    @staticmethod
    def _write_trades(path: Path, trades: list[Any]) -> None:
        with path.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(TRADE_COLUMNS)
            for t in trades:
                writer.writerow([getattr(t, column) for column in TRADE_COLUMNS])
