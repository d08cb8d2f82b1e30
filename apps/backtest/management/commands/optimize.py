from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.backtest.optimizer import OptimizerError, ParameterOptimizer, windows_table
from apps.market.data import MarketDataError, load_klines

DEFAULT_SPACE = (
    '{"fast": {"low": 5, "high": 30}, "slow": {"low": 20, "high": 120}, '
    '"sl": {"low": 0.005, "high": 0.05}, "tp": {"low": 0.01, "high": 0.1}}'
)


class Command(BaseCommand):
    help = (
        "Optimise ema_cross parameters walk-forward: search each training window (TPE or "
        "grid), score the winner on the next test window, print both side by side."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--strategy", default="ema_cross", choices=["ema_cross"])
        parser.add_argument("--data", required=True, metavar="FILE")
        parser.add_argument("--space", default=DEFAULT_SPACE, help="search space as JSON")
        parser.add_argument("--method", default="tpe", choices=["tpe", "grid"])
        parser.add_argument("--trials", type=int, default=50, help="trials per window")
        parser.add_argument("--objective", default="sharpe")
        parser.add_argument("--train", type=int, default=24 * 180, help="training candles")
        parser.add_argument("--test", type=int, default=24 * 60, help="test candles")
        parser.add_argument("--warmup", type=int, default=300, help="warm-up candles per part")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--fee", type=float, default=0.0004)
        parser.add_argument("--stake", type=float, default=1000.0)
        parser.add_argument("--cash", type=float, default=10000.0)
        parser.add_argument("--json", dest="json_out", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            space = json.loads(options["space"])
            candles = load_klines(options["data"])
            optimizer = ParameterOptimizer(
                space=space,
                objective=options["objective"],
                method=options["method"],
                trials=options["trials"],
                seed=options["seed"],
                fee=options["fee"],
                stake=options["stake"],
                cash=options["cash"],
            )

            def progress(done: int, total: int) -> None:
                sys.stderr.write(f"\rwindow {done}/{total}")
                sys.stderr.flush()

            report = optimizer.walk_forward(
                candles,
                train=options["train"],
                test=options["test"],
                warmup=options["warmup"],
                progress=progress,
            )
        except json.JSONDecodeError as exc:
            raise CommandError(f"--space is not JSON: {exc}") from exc
        except (OptimizerError, MarketDataError) as exc:
            raise CommandError(str(exc)) from exc
        sys.stderr.write("\n")
        rows = windows_table(report, candles.open_time)
        name = options["objective"]
        for row in rows:
            self.stdout.write(
                f"train {row['train']}  test {row['test']}  {name} in-sample "
                f"{row['in_sample']:8.3f}  out-of-sample {row['out_of_sample']:8.3f}  "
                f"{json.dumps(row['best_params'])}"
            )
        self.stdout.write(
            f"mean {name}: in-sample {report.mean_in_sample:.3f}, out-of-sample "
            f"{report.mean_out_of_sample:.3f} over {len(rows)} windows"
        )
        if options["json_out"]:
            Path(options["json_out"]).write_text(
                json.dumps(
                    {
                        "objective": name,
                        "method": options["method"],
                        "seed": options["seed"],
                        "trials": options["trials"],
                        "windows": rows,
                        "mean_in_sample": report.mean_in_sample,
                        "mean_out_of_sample": report.mean_out_of_sample,
                    },
                    indent=2,
                    default=str,
                )
            )
