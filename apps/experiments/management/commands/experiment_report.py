from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.backtest.models import BacktestRun
from apps.experiments.domain.stats import Comparison
from apps.experiments.selectors import (
    ReportError,
    backtest_runs_compare,
    experiment_get,
    experiment_report,
    report_winner,
)
from apps.market.clock import market_now


def _comparison_lines(c: dict[str, Any]) -> list[str]:
    lines = [f"{c['label_b']} vs {c['label_a']}: {c['verdict']}"]
    for key, title in (("sharpe_diff", "Sharpe"), ("mean_diff", "mean daily return")):
        d = c.get(key)
        if d:
            lines.append(
                f"  {title} difference {d['observed']} "
                f"({c['confidence']} interval {d['ci_low']} to {d['ci_high']}), p = {d['p_value']}"
            )
    for side in ("a", "b"):
        f = c.get(side)
        if f:
            lines.append(
                f"  {f['label']}: Sharpe {f['sharpe']}, mean daily return "
                f"{f['mean_daily_return']}, total return {f['total_return']}"
            )
    lines.append(
        f"  {c['days']} day(s), {c['resamples']} permutations / bootstrap resamples, "
        f"seed {c['seed']}"
    )
    return lines


class Command(BaseCommand):
    help = (
        "Print an A/B experiment's report: each variant's trades and PnL, and each variant "
        "against the control with a paired permutation test and bootstrap intervals of daily "
        "returns (docs/experiments.md). With --backtests A B, compare two backtest runs instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", nargs="?", help="the experiment's name")
        parser.add_argument(
            "--backtests",
            nargs=2,
            type=int,
            metavar=("RUN_A", "RUN_B"),
            help="compare two finished backtest runs (ids) instead",
        )
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["backtests"]:
            self._backtests(*options["backtests"], as_json=options["json"])
            return
        if not options["name"]:
            raise CommandError("name an experiment (or give --backtests RUN_A RUN_B)")
        try:
            experiment = experiment_get(name=options["name"])
            report = experiment_report(experiment=experiment, now=market_now())
        except ReportError as exc:
            raise CommandError(str(exc)) from exc
        winner = report_winner(report)
        if options["json"]:
            self.stdout.write(json.dumps({**report.as_dict(), "winner": winner}, indent=2))
            return
        first = report.days[0].isoformat() if report.days else "-"
        last = report.days[-1].isoformat() if report.days else "-"
        out = [
            f"experiment {report.experiment} ({report.status}): {first} to {last}, "
            f"{len(report.days)} UTC day(s), capital {report.capital} USDT per variant",
        ]
        for v in report.variants:
            out.append(
                f"  {v.label} ({v.bot}): {v.trades} closed trade(s), net PnL {v.net_pnl:.2f}, "
                f"{v.open_trades} open (PnL {v.open_pnl:.2f})"
            )
        for c in report.comparisons:
            out.extend(_comparison_lines(Comparison.as_dict(c)))
        out.append(f"winner: {winner or 'none yet'}")
        self.stdout.write("\n".join(out))

    def _backtests(self, a: int, b: int, *, as_json: bool) -> None:
        runs = BacktestRun.objects.in_bulk([a, b])
        missing = [str(pk) for pk in (a, b) if pk not in runs]
        if missing:
            raise CommandError(f"unknown backtest run(s): {', '.join(missing)}")
        try:
            result = backtest_runs_compare(run_a=runs[a], run_b=runs[b])
        except ReportError as exc:
            raise CommandError(str(exc)) from exc
        if as_json:
            self.stdout.write(json.dumps(result, indent=2))
            return
        out = [
            f"backtests {a} vs {b}: {result['first_day']} to {result['last_day']}, "
            f"{result['days']} common day(s)"
        ]
        for side in ("a", "b"):
            r = result[side]
            out.append(
                f"  run {r['id']} ({r['strategy']}): {r['trades_in_common_days']} trade(s) in "
                f"the common days, net PnL {r['net_pnl_in_common_days']}"
            )
        out.extend(_comparison_lines(result["comparison"]))
        self.stdout.write("\n".join(out))
