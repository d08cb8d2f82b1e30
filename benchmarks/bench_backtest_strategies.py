"""Benchmark the general signal kernel with the registered strategies; prints, asserts nothing.

    python benchmarks/bench_backtest_strategies.py                       # all three, book slippage
    python benchmarks/bench_backtest_strategies.py --strategy trend_swing --leverage 5
    python benchmarks/bench_backtest_strategies.py --jit     # numba-compiled recursions

Data: the shipped real 5m futures files (../shared/data/futures/*-5m.csv.gz, 6 symbols).
"signals" is the strategy's own vectorised ``signals`` (indicators, plain-Python recursions as
the command runs them without --jit; ``--jit`` compiles them with numba, as the command's
``--jit`` and ``bench_backtest.py`` do); "kernel" the compiled loop; "engine" the whole
``backtest_strategy`` call (signals, kernel, equity curve, metrics). "first" includes importing
numba and loading the cached loop; "warm" is the best of three later runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apps.backtest.research.domain.engine import backtest_strategy  # noqa: E402
from apps.backtest.research.domain.signal_kernel import (  # noqa: E402
    BookSlippage,
    ExecutionParams,
    simulate_signals,
)
from apps.market.data import load_klines  # noqa: E402
from apps.market.domain.indicators import set_numba_enabled  # noqa: E402
from apps.strategies.domain.base import OHLCV  # noqa: E402
from apps.strategies.domain.registry import build_strategy  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "futures"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategy", nargs="+", default=["bollinger_scalp", "trend_swing"])
    parser.add_argument("--leverage", type=float, default=1.0)
    parser.add_argument("--slippage", choices=["book", "none"], default="book")
    parser.add_argument("--intrabar", choices=["stop_first", "path"], default="stop_first")
    parser.add_argument("--jit", action="store_true", help="numba-compiled indicator recursions")
    args = parser.parse_args()
    set_numba_enabled(args.jit)
    t = time.perf_counter()
    series = [load_klines(f) for f in sorted(DATA.glob("*-5m.csv.gz"))]
    n = sum(len(s) for s in series)
    print(f"{len(series)} series, {n:,} candles, loaded in {time.perf_counter() - t:.2f} s")
    execution = ExecutionParams(
        leverage=args.leverage,
        slippage=BookSlippage() if args.slippage == "book" else None,
        intrabar=args.intrabar,
    )
    for kind in args.strategy:
        strategy = build_strategy(kind)
        windows = [OHLCV.of(s) for s in series]
        t = time.perf_counter()
        frames = [strategy.evaluate(w) for w in windows]
        signals_s = time.perf_counter() - t
        kernel = []
        for _ in range(4):
            t = time.perf_counter()
            for w, f in zip(windows, frames, strict=True):
                simulate_signals(
                    w.open,
                    w.high,
                    w.low,
                    w.close,
                    w.volume,
                    enter_long=f.enter_long,
                    exit_long=f.exit_long,
                    enter_short=f.enter_short,
                    exit_short=f.exit_short,
                    stop_price=f.stop_price,
                    take_profit=f.take_profit,
                    trail_distance=f.trail_distance,
                    params=execution,
                    jit=True,
                )
            kernel.append(time.perf_counter() - t)
        engine = []
        trades = 0
        for _ in range(3):
            t = time.perf_counter()
            results = [
                backtest_strategy(s, strategy, execution, initial_capital=10_000) for s in series
            ]
            engine.append(time.perf_counter() - t)
            trades = sum(len(r.trades) for r in results)
        kernel_warm = min(kernel[1:])
        print(
            f"[{kind}] {trades:,} trades | signals {signals_s:.3f} s"
            f" | kernel first {kernel[0]:.3f} s, warm {kernel_warm:.4f} s"
            f" ({n / kernel_warm / 1e6:.0f} M candles/s)"
            f" | engine warm {min(engine):.3f} s ({n / min(engine) / 1e6:.1f} M candles/s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
