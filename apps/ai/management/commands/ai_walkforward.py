"""``manage.py ai_walkforward``: train on each window, test on the next, beside the baselines."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm.contrib.logging import logging_redirect_tqdm

from apps.ai.walkforward import AI_KINDS, RULES, WalkForwardConfig, report_html, walk_forward
from apps.core.domain.formatting import fmt_pct


class Command(BaseCommand):
    help = (
        "Walk-forward judgement of the AI on a kline file: for each window train the AI kinds on "
        "--train candles and test them on the next --test candles, beside the rule strategies, "
        "buy-and-hold and always-flat, after fees, book slippage and funding; print the "
        "summary, write the JSON and an HTML report."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--kind", nargs="+", default=["ppo"],
                            choices=[*AI_KINDS, "ensemble"])  # fmt: skip
        parser.add_argument("--data", required=True, metavar="FILE", help="kline file")
        parser.add_argument("--start", default="", help="ISO date: first candle used")
        parser.add_argument("--end", default="", help="ISO date: candles before it are used")
        parser.add_argument("--train", type=int, default=24 * 180, help="training candles")
        parser.add_argument("--test", type=int, default=24 * 30, help="test candles")
        parser.add_argument("--step", type=int, default=None, help="window step (default --test)")
        parser.add_argument("--timesteps", type=int, default=30_000, help="agent env steps")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--rules", nargs="*", default=list(RULES), help="rule strategies")
        parser.add_argument("--params", default="{}", help="AI hyper-parameters as JSON")
        parser.add_argument("--min-confidence", type=float, default=0.0)
        parser.add_argument("--funding", choices=["auto", "none"], default="auto")
        parser.add_argument("--json", dest="json_out", default="", help="write the report here")
        parser.add_argument("--report", default="", help="write the HTML report here")

    def handle(self, *args: Any, **options: Any) -> None:
        from apps.backtest.management.commands.backtest import _ms
        from apps.backtest.services import BacktestError, funding_load, series_load

        if not Path(options["data"]).is_file():
            raise CommandError(f"no such file: {options['data']}")
        try:
            params = json.loads(options["params"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--params is not JSON: {exc}") from exc
        start = _ms(options["start"], "--start") if options["start"] else None
        end = _ms(options["end"], "--end") if options["end"] else None
        try:
            [candles] = series_load(paths=[options["data"]], start_ms=start, end_ms=end)
            funding = None
            if options["funding"] == "auto":
                funding = funding_load(paths=[options["data"]], spec=["auto"]).get(candles.symbol)
        except BacktestError as exc:
            raise CommandError(str(exc)) from exc
        config = WalkForwardConfig(
            kinds=tuple(options["kind"]),
            rules=tuple(options["rules"]),
            train=options["train"],
            test=options["test"],
            step=options["step"],
            timesteps=options["timesteps"],
            seed=options["seed"],
            min_confidence=options["min_confidence"],
            hyperparameters=params,
        )
        try:
            config.check(len(candles))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc

        def progress(what: str) -> None:
            sys.stderr.write(what + "\n")

        with logging_redirect_tqdm():
            report = walk_forward(candles, config, funding=funding, progress=progress)
        if options["json_out"]:
            Path(options["json_out"]).write_text(json.dumps(report, indent=2))
        if options["report"]:
            Path(options["report"]).write_text(report_html(report))
        self.stdout.write(
            f"{candles.symbol}-{candles.interval}: {len(report['windows'])} windows of "
            f"{config.train} training and {config.test} test candles (out of sample, after "
            "fees, slippage and funding)"
        )
        self.stdout.write(f"{'':<16}{'mean return':>12}{'median':>10}{'Sharpe':>8}"
                          f"{'worst DD':>10}{'> 0':>7}")  # fmt: skip
        for name, s in report["summary"].items():
            self.stdout.write(
                f"{name:<16}{fmt_pct(s['mean_return']):>12}{fmt_pct(s['median_return']):>10}"
                f"{s['mean_sharpe']:>8.2f}{fmt_pct(s['worst_drawdown']):>10}"
                f"{s['positive_windows']:>4}/{s['windows']}"
            )
