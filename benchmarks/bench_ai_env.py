"""Benchmark the AI trading environment; prints figures, asserts nothing.

    python benchmarks/bench_ai_env.py                   # 300k random steps on BTCUSDT-1h
    python benchmarks/bench_ai_env.py --steps 1000000 --symbol ETHUSDT

Builds ``TradingEnv`` on the shipped 1h futures candles with funding (features normalised on the
first 70 % of the rows, default ``EnvConfig``: 720-step episodes, taker fee, book slippage) and
runs uniformly random actions, resetting when an episode ends:
- "raw": ``env.step`` of the unwrapped environment, actions as Python ints;
- "raw, numpy actions": the same with ``numpy.int64`` actions (what SB3's vector env passes);
- "wrapped": ``OrderEnforcing(PassiveEnvChecker(env))``, the wrappers ``gymnasium.make`` adds;
- "simulate_actions": one whole-series run of random actions (candles per second).
The best of three runs of each; action generation is outside the timed loops.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from gymnasium.wrappers import OrderEnforcing, PassiveEnvChecker  # noqa: E402

from apps.ai.domain.env import EnvConfig, TradingEnv, simulate_actions  # noqa: E402
from apps.ai.domain.features import (  # noqa: E402
    FeatureSet,
    FeatureSpec,
    Normalizer,
    compute_features,
)
from apps.market.data import load_funding, load_klines  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "futures"


def _run(env, actions: list) -> float:  # type: ignore[no-untyped-def]
    """Seconds for ``len(actions)`` steps, resetting at the end of each episode."""
    env.reset(seed=0)
    step, reset = env.step, env.reset
    t = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = step(a)
        if terminated or truncated:
            reset()
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300_000)
    parser.add_argument("--symbol", default="BTCUSDT")
    args = parser.parse_args()
    path = DATA / f"{args.symbol}-1h.csv.gz"
    if not path.is_file():
        raise SystemExit(f"no candle file {path}")

    t = time.perf_counter()
    candles = load_klines(path)
    funding_path = DATA / f"{args.symbol}-funding.csv.gz"
    funding = None
    if funding_path.is_file():
        rates = load_funding(funding_path)
        funding = (rates.funding_time, rates.funding_rate)
    spec = FeatureSpec()
    raw = compute_features(candles, spec)
    normalizer = Normalizer.fit(raw[: raw.shape[0] * 7 // 10])
    features = FeatureSet.of(candles, spec, normalizer)
    config = EnvConfig()
    env = TradingEnv(candles, features, funding=funding, config=config)
    n = len(candles.close)
    print(
        f"{args.symbol} 1h: {n:,} candles, {features.scaled.shape[1]} features, "
        f"funding {'on' if funding else 'off'}; env built in {time.perf_counter() - t:.2f} s",
        flush=True,
    )

    rng = np.random.default_rng(0)
    drawn = rng.integers(0, config.actions, args.steps)
    as_ints = drawn.tolist()
    as_numpy = list(drawn)
    for label, target, actions in (
        ("raw", env, as_ints),
        ("raw, numpy actions", env, as_numpy),
        ("wrapped", OrderEnforcing(PassiveEnvChecker(env)), as_ints),
    ):
        best = min(_run(target, actions) for _ in range(3))
        print(f"{label:>20}: {args.steps / best:>12,.0f} steps/s ({best:.3f} s)", flush=True)

    series = rng.integers(0, config.actions, n)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        run = simulate_actions(candles, series, config, funding=funding)
        best = min(best, time.perf_counter() - t)
    print(
        f"{'simulate_actions':>20}: {n / best:>12,.0f} candles/s ({best:.3f} s, "
        f"{run.trades:,} trades, final equity {run.final_equity:,.2f})",
        flush=True,
    )


if __name__ == "__main__":
    main()
