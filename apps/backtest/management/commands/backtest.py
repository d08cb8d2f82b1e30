from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from apps.backtest.reports.summary_table import summary_table
from apps.backtest.research.domain.signal_kernel import INTRABAR_MODES
from apps.backtest.services import (
    TRADE_COLUMNS,
    BacktestError,
    backtest_check,
    backtest_series,
    fine_load,
    funding_db_load,
    funding_load,
    series_db_load,
    series_load,
)
from apps.core.domain.formatting import fmt_money
from apps.exchange.domain.fees import DEFAULT_MAKER_FEE, DEFAULT_TAKER_FEE
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
        "Backtest a strategy (ema_cross, bollinger_scalp, trend_swing) on kline CSV files (the "
        "shipped format or Binance public data, gzipped or not), long and short, with its own "
        "signals; fees, book slippage, funding, leverage and liquidation. The rules are in "
        "apps/backtest/research/domain/signal_kernel.py."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--strategy",
            default="ema_cross",
            help="strategy kind: ema_cross (default), bollinger_scalp or trend_swing",
        )
        parser.add_argument(
            "--params",
            default="{}",
            help="strategy parameters as JSON; sl / tp (fractions of the entry price) also serve "
            "strategies without them, where the signals give no stop / take-profit",
        )
        parser.add_argument(
            "--data",
            nargs="+",
            default=[],
            metavar="FILE",
            help="kline files (gzipped or not); without them, the imported candles of --symbols "
            "at --interval are used (the Kline table, see import_klines / stream_market)",
        )
        parser.add_argument(
            "--interval", default="", help="timeframe of the imported candles (with --symbols)"
        )
        parser.add_argument(
            "--progress",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="progress bar on stderr (default: when stderr is a terminal)",
        )
        parser.add_argument(
            "--fee",
            type=float,
            default=DEFAULT_TAKER_FEE,
            help=f"taker fee per side (fraction; default {DEFAULT_TAKER_FEE}, the platform's)",
        )
        parser.add_argument(
            "--maker-fee",
            type=float,
            default=DEFAULT_MAKER_FEE,
            help="fee of take-profit exits, resting limit orders (fraction; default "
            f"{DEFAULT_MAKER_FEE}, the platform's)",
        )
        parser.add_argument(
            "--stake",
            type=float,
            default=1000.0,
            help="margin per trade (quote); the position is stake x leverage",
        )
        parser.add_argument("--cash", type=float, default=10000.0, help="starting capital")
        parser.add_argument(
            "--leverage", type=float, default=1.0, help="leverage, 1 to 125 (default 1)"
        )
        parser.add_argument(
            "--maintenance-margin",
            type=float,
            default=0.004,
            help="maintenance margin rate for the liquidation price (default 0.004, Binance's "
            "lowest BTCUSDT tier)",
        )
        parser.add_argument(
            "--slippage",
            default="book",
            choices=["book", "none"],
            help="book (default): market fills walk the simulated exchange's synthetic depth "
            "built from the candle's volume; none: fills at the reference price",
        )
        parser.add_argument(
            "--intrabar",
            default="stop_first",
            choices=list(INTRABAR_MODES),
            help="order of stop / take-profit inside a candle touching both: stop_first "
            "(default), path (the simulator's open-low-high-close path) or finer (finer candles "
            "where present, else path)",
        )
        parser.add_argument(
            "--fine-data",
            nargs="*",
            default=None,
            metavar="FILE",
            help="finer kline files for --intrabar finer (default: the SYMBOL-1m file next to "
            "each data file, when there is one)",
        )
        parser.add_argument(
            "--mode",
            default="",
            help="label of this run in the per-mode figures (e.g. SCALP; default: the kind)",
        )
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
            "--model",
            nargs="*",
            type=int,
            default=[],
            metavar="ID",
            help="AI model(s) of the registry (train_agent): with --strategy ai the AI drives "
            "the trades; with a rule strategy and --ai-role filter it confirms each entry",
        )
        parser.add_argument("--ai-role", default="", choices=["", "driver", "filter"])
        parser.add_argument(
            "--ai-mode",
            default="",
            choices=["", "ppo_only", "lstm_only", "hybrid", "ensemble"],
            help="HybridAI mode (default: the one the models given make)",
        )
        parser.add_argument("--ai-weight", type=float, default=0.5, help="agent share (hybrid)")
        parser.add_argument(
            "--ai-min-confidence", type=float, default=0.0, help="under it the AI is not used"
        )
        jit = parser.add_mutually_exclusive_group()
        jit.add_argument(
            "--jit",
            action="store_const",
            const=True,
            dest="jit",
            help="always compile the indicator recursions (EMA, Wilder) with numba (default: "
            "from 20,000 candles on, as the kernel's loop; same numbers either way, cached on "
            "disk after the first run)",
        )
        jit.add_argument(
            "--no-jit",
            action="store_const",
            const=False,
            dest="jit",
            help="never compile the indicator recursions (plain Python; numba's start-up of "
            "~0.3 s is not paid)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            params = json.loads(options["params"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--params is not JSON: {exc}") from exc
        start = _ms(options["start"], "--start") if options["start"] else None
        end = _ms(options["end"], "--end") if options["end"] else None
        self._check_arguments(options, params, start, end)
        ai = self._ai(options)
        try:
            show = sys.stderr.isatty() if options["progress"] is None else options["progress"]
            bar = tqdm(
                total=len(options["data"]) * 2 or None,
                desc="backtest",
                unit="step",
                file=sys.stderr,
                disable=not show,
            )

            def step(what: str) -> None:
                bar.set_postfix_str(what)
                bar.update(1)

            if options["data"]:
                series = series_load(
                    paths=options["data"],
                    symbols=options["symbols"],
                    start_ms=start,
                    end_ms=end,
                    progress=step,
                )
                funding = funding_load(paths=options["data"], spec=options["funding"])
            else:
                if not options["interval"]:
                    raise CommandError("give --data FILE ..., or --symbols and --interval")
                series = series_db_load(
                    symbols=options["symbols"] or [],
                    interval=options["interval"],
                    start_ms=start,
                    end_ms=end,
                )
                funding = (
                    funding_db_load(symbols=[k.symbol for k in series])
                    if options["funding"] and options["funding"] != ["none"]
                    else {}
                )
            fine = (
                fine_load(paths=options["data"], spec=options["fine_data"], series=series)
                if options["intrabar"] == "finer"
                else {}
            )
            if options["intrabar"] == "finer":
                missing = sorted({k.symbol for k in series} - set(fine))
                if missing:  # (through the bar: a log line never cuts a progress bar)
                    bar.write(
                        f"no finer candles for {', '.join(missing)}: path order there",
                        file=sys.stderr,
                    )
            bar.write(f"loaded {len(series)} series; running the engine ...", file=sys.stderr)
            bar.total = len(options["data"]) + len(series)
            bar.refresh()
            outcome = backtest_series(
                strategy=options["strategy"],
                params=params,
                series=series,
                fee=options["fee"],
                stake=options["stake"],
                cash=options["cash"],
                jit=options["jit"],
                funding=funding,
                maker_fee=options["maker_fee"],
                leverage=options["leverage"],
                maintenance_margin=options["maintenance_margin"],
                slippage=options["slippage"],
                intrabar=options["intrabar"],
                fine=fine,
                mode=options["mode"],
                progress=step,
                ai=ai,
            )
            bar.close()
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
            from apps.backtest.reports.html import backtest_report_html

            closes = {f"{k.symbol}-{k.interval}": k.close for k in series}
            Path(options["report"]).write_text(
                backtest_report_html(results=outcome.results, closes=closes)
            )
        summary = outcome.summary
        if options["json_out"]:
            Path(options["json_out"]).write_text(json.dumps(summary, indent=2))
        seconds = summary["engine_seconds"]
        rate = summary["candles"] / seconds if seconds > 0 else float("inf")
        sides = summary["by_side"]
        self.stdout.write(summary_table(summary))
        self.stdout.write(
            f"{summary['trades']} trades ({sides['long']['trades']} long, "
            f"{sides['short']['trades']} short) on {summary['candles']:,} candles, net PnL "
            f"{fmt_money(summary['total_pnl'])} USDT, avg slippage "
            f"{summary['avg_slippage_bps']:.2f} bps, engine {seconds:.3f} s "
            f"({rate / 1e6:.1f} M candles/s)"
        )

    @staticmethod
    def _ai(options: dict[str, Any]) -> Any:
        """The HybridAI of --model, in the role --strategy and --ai-role give it."""
        role = options["ai_role"] or ("driver" if options["strategy"] == "ai" else "")
        if options["strategy"] == "ai" and role != "driver":
            raise CommandError("--strategy ai is the driver role (--ai-role filter needs a rule "
                               "strategy)")  # fmt: skip
        if role and not options["model"]:
            raise CommandError(f"the AI's {role} role needs --model ID (see train_agent)")
        if not role:
            if options["model"]:
                raise CommandError("--model needs --strategy ai, or --ai-role filter")
            return None
        from apps.ai.services import ArtifactError, hybrid_of_artifacts

        try:
            return hybrid_of_artifacts(
                options["model"],
                mode=options["ai_mode"],
                weight=options["ai_weight"],
                min_confidence=options["ai_min_confidence"],
            )
        except ArtifactError as exc:
            raise CommandError(f"--model: {exc}") from exc

    @staticmethod
    def _check_arguments(
        options: dict[str, Any], params: Any, start: int | None, end: int | None
    ) -> None:
        """Refuse bad arguments in one line before any data is loaded."""
        if start is not None and end is not None and end <= start:
            raise CommandError("--end must come after --start")
        if options["cash"] <= 0:
            raise CommandError(f"--cash must be positive, got {options['cash']}")
        try:
            backtest_check(
                strategy=options["strategy"],
                params=params,
                fee=options["fee"],
                stake=options["stake"],
                maker_fee=options["maker_fee"],
                leverage=options["leverage"],
                maintenance_margin=options["maintenance_margin"],
                slippage=options["slippage"],
                intrabar=options["intrabar"],
            )
        except BacktestError as exc:
            message = str(exc)
            raise CommandError(
                f"--{message}" if message.startswith("params:") else message
            ) from exc
        for path in [*options["data"], *(options["fine_data"] or [])]:
            if not Path(path).is_file():
                raise CommandError(f"no such file: {path}")
        if not options["data"] and not (options["symbols"] and options["interval"]):
            raise CommandError("give --data FILE ..., or --symbols and --interval")

    @staticmethod
    def _write_trades(path: Path, trades: list[Any]) -> None:
        with path.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(TRADE_COLUMNS)
            for t in trades:
                writer.writerow([getattr(t, column) for column in TRADE_COLUMNS])
