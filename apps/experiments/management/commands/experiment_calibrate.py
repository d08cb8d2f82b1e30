from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.experiments.domain.stats import compare_daily_returns


def _interval(hits: int, runs: int) -> str:
    """The rate and its 95 % Wilson interval."""
    p, z = hits / runs, 1.959964
    centre = (p + z * z / (2 * runs)) / (1 + z * z / runs)
    half = z * math.sqrt(p * (1 - p) / runs + z * z / (4 * runs * runs)) / (1 + z * z / runs)
    return (
        f"{p * 100:.1f} % (95 % interval {max(0.0, centre - half) * 100:.1f} to "
        f"{min(1.0, centre + half) * 100:.1f} %)"
    )


class Command(BaseCommand):
    help = (
        "Measure the A/B test's error rates on seeded synthetic experiments: how often two "
        "variants of one strategy are called different (false positives) and how often a "
        "planted edge is found (power). Two variants share a daily market move (sd 2 %) plus "
        "their own noise (sd 1 %); B earns --edge more per day in the power runs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--runs", type=int, default=1000, help="experiments per case")
        parser.add_argument("--days", type=int, default=60, help="days per experiment")
        parser.add_argument("--edge", type=float, default=0.003, help="B's extra daily return")
        parser.add_argument("--resamples", type=int, default=500)
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args: Any, **options: Any) -> None:
        runs, days = options["runs"], options["days"]
        if runs < 1 or days < 5:
            raise CommandError("--runs must be at least 1 and --days at least 5")
        started = time.perf_counter()
        cases = [
            (0.0, "identical variants called different"),
            (options["edge"], f"edge of {options['edge']:.4f}/day found"),
        ]
        for edge, title in cases:
            hits = 0
            for i in range(runs):
                rng = np.random.default_rng(options["seed"] * 1_000_003 + i)
                market = rng.normal(0.0, 0.02, days)
                a = market + rng.normal(0.0005, 0.01, days)
                b = market + rng.normal(0.0005 + edge, 0.01, days)
                result = compare_daily_returns(
                    a, b, resamples=options["resamples"], seed=options["seed"] + i
                )
                hits += result.significant and (edge == 0.0 or result.better == "B")
                if (i + 1) % max(1, runs // 10) == 0:
                    self.stderr.write(f"  {title}: {i + 1}/{runs}")
            self.stdout.write(
                f"{title}: {_interval(hits, runs)} of {runs} experiments of {days} days, "
                f"95 % confidence, {options['resamples']} resamples"
            )
        self.stdout.write(f"{time.perf_counter() - started:.1f} s")
