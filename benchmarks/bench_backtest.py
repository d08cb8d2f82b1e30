"""Benchmark the ema_cross backtest engine; prints figures, asserts nothing.

    python benchmarks/bench_backtest.py                 # all scenarios, each in its own process
    python benchmarks/bench_backtest.py --scenario one  # one synthetic 1m year
    python benchmarks/bench_backtest.py --no-numba      # force the pure-Python recursions

Scenarios:
  one   one synthetic symbol-year of 1m candles (525,600)
  five  five synthetic 1m symbol-years in one run (2,628,000 candles)
  real  the shipped real 5m futures files (../shared/data/futures/*-5m.csv.gz)

"engine" is the backtest call (indicators, signals, kernel, equity curve, metrics), not data
generation or loading; "first" includes numba's start-up (loading its compiled cache), "warm" is
the best of three further runs. "wall" is the whole process from interpreter start, peak RSS from
``resource.getrusage``.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

_T0 = time.perf_counter()
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apps.backtest.research.domain.ema_cross import EmaCrossParams  # noqa: E402
from apps.backtest.research.domain.engine import backtest_ema_cross_many  # noqa: E402
from apps.backtest.research.domain.synthetic import ONE_YEAR_1M, synthetic_candles  # noqa: E402
from apps.market.domain import indicators  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "futures"
PARAMS = EmaCrossParams(fast=12, slow=26, stop_loss=0.02, take_profit=0.04, fee=0.0004)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _series(scenario: str) -> list:
    if scenario == "one":
        return [synthetic_candles(ONE_YEAR_1M, seed=0, symbol="SYN0USDT")]
    if scenario == "five":
        return [synthetic_candles(ONE_YEAR_1M, seed=s, symbol=f"SYN{s}USDT") for s in range(5)]
    if scenario == "real":
        from apps.market.data import load_klines

        files = sorted(DATA.glob("*-5m.csv.gz"))
        if not files:
            raise SystemExit(f"no *-5m.csv.gz files in {DATA}")
        return [load_klines(f) for f in files]
    raise SystemExit(f"unknown scenario {scenario!r}")


def run_scenario(scenario: str, method: str) -> None:
    t = time.perf_counter()
    series = _series(scenario)
    data_s = time.perf_counter() - t
    n = sum(len(s.close) for s in series)

    t = time.perf_counter()
    result = backtest_ema_cross_many(series, PARAMS, initial_capital=10_000.0, method=method)
    first_s = time.perf_counter() - t
    warm = []
    for _ in range(3):
        t = time.perf_counter()
        backtest_ema_cross_many(series, PARAMS, initial_capital=10_000.0, method=method)
        warm.append(time.perf_counter() - t)
    warm_s = min(warm)
    wall_s = time.perf_counter() - _T0
    numba = "numba" if indicators.numba_available() and indicators._numba_enabled else "python"
    names = ",".join(s.symbol for s in series)
    print(
        f"[{scenario}] {len(series)} series ({names}), {n:,} candles, "
        f"{result.n_trades:,} trades, recursions={numba}, method={method}\n"
        f"  data {data_s:.2f} s"
        f" | engine first {first_s:.3f} s ({n / first_s / 1e6:.2f} M candles/s)"
        f" | engine warm {warm_s:.3f} s ({n / warm_s / 1e6:.2f} M candles/s)\n"
        f"  wall (whole process, 1 data pass + 4 engine runs) {wall_s:.2f} s"
        f" | peak RSS {_peak_rss_mb():.0f} MB",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=["one", "five", "real", "all"], default="all")
    parser.add_argument("--method", choices=["batch", "events"], default="batch")
    parser.add_argument("--no-numba", action="store_true", help="pure-Python recursions")
    args = parser.parse_args()
    if args.scenario != "all":
        if args.no_numba:
            indicators.set_numba_enabled(False)
        run_scenario(args.scenario, args.method)
        return
    for scenario in ("one", "five", "real"):
        cmd = [sys.executable, __file__, "--scenario", scenario, "--method", args.method]
        if args.no_numba:
            cmd.append("--no-numba")
        t = time.perf_counter()
        subprocess.run(cmd, check=True)
        print(f"  process wall incl. interpreter start {time.perf_counter() - t:.2f} s", flush=True)


if __name__ == "__main__":
    main()
