"""Benchmark the AI: training speed, inference latency and the cost of the AI in a bot's cycle;
prints figures, asserts nothing.

    python benchmarks/bench_ai.py                 # everything (about 3 minutes on 2 cores)
    python benchmarks/bench_ai.py --quick         # smaller runs

- training: PPO and A2C environment steps per second (``TradingAgent.train``, default
  ``AgentConfig``: 8 environments, 2 torch threads) and the LSTM's seconds per epoch, on the
  shipped BTCUSDT 1h candles 2023-01 .. 2025-07;
- inference: ``live_predict`` latency (one window, what a live cycle calls) of the demo's PPO
  agent, LSTM, HybridAI (both) and an ensemble of the three kinds, over 2,000 windows;
- in a cycle: a paper bot's real cycles (``replay_bot``: database, simulated exchange, one
  candle at a time, SQLite in a temporary folder) for the demo-ai bot (HybridAI driver) and
  the same 1h ema bot without AI over the same two weeks: milliseconds per cycle, and the
  AI's own latency as recorded on each ``AiDecision``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
_tmp = Path(tempfile.mkdtemp(prefix="bench-ai-"))
os.environ.update(
    DJANGO_SETTINGS_MODULE="tradingplatform.settings.dev",
    TRADINGPLATFORM_ENV_FILE="",
    SQLITE_PATH=str(_tmp / "db.sqlite3"),
    AI_MODELS_DIR=str(_tmp / "models"),
    DATABASE_URL="",
    REDIS_URL="",
    CELERY_BROKER_URL="memory://",
)

import logging  # noqa: E402

import django  # noqa: E402

logging.disable(logging.INFO)  # the figures only

django.setup()

import numpy as np  # noqa: E402
from django.core.management import call_command  # noqa: E402

from apps.ai.domain.agent import AgentConfig, TradingAgent  # noqa: E402
from apps.ai.domain.ensemble import EnsembleAgent, EnsembleMode  # noqa: E402
from apps.ai.domain.hybrid import HybridAI, HybridMode  # noqa: E402
from apps.ai.domain.lstm import LstmConfig, LstmPredictor  # noqa: E402
from apps.exchange.domain.types import datetime_to_ms  # noqa: E402
from apps.market.data import load_klines  # noqa: E402
from apps.strategies.domain.base import OHLCV  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "futures" / "BTCUSDT-1h.csv.gz"


def _cut(candles: OHLCV, start: datetime, end: datetime) -> OHLCV:
    lo, hi = np.searchsorted(candles.open_time, [datetime_to_ms(start), datetime_to_ms(end)])
    return OHLCV.of(candles, int(lo), int(hi))


def _pct(values: list[float]) -> str:
    a = np.asarray(values)
    return (
        f"p50 {np.percentile(a, 50):7.3f} ms  p95 {np.percentile(a, 95):7.3f} ms  "
        f"max {a.max():7.3f} ms"
    )


def training(train: OHLCV, quick: bool) -> tuple[TradingAgent, TradingAgent, LstmPredictor]:
    steps = 20_000 if quick else 100_000
    agents = []
    for algorithm in ("ppo", "a2c"):
        started = time.perf_counter()
        agent = TradingAgent.train(train, AgentConfig(algorithm=algorithm, timesteps=steps, seed=1))
        seconds = time.perf_counter() - started
        print(f"train {algorithm}: {steps:,} env steps in {seconds:6.1f} s = "
              f"{steps / seconds:8,.0f} steps/s")  # fmt: skip
        agents.append(agent)
    config = LstmConfig(epochs=3 if quick else 10, patience=100, seed=1)
    predictor = LstmPredictor(config)
    started = time.perf_counter()
    history = predictor.fit(train)
    seconds = time.perf_counter() - started
    epochs = len(history["train_loss"])
    print(f"train lstm: {epochs} epochs over {history['train_samples']:,} windows in "
          f"{seconds:6.1f} s = {seconds / epochs:5.2f} s/epoch")  # fmt: skip
    return agents[0], agents[1], predictor


def inference(models: dict[str, object], test: OHLCV, count: int) -> None:
    for name, model in models.items():
        lookback = model.lookback  # type: ignore[attr-defined]
        ends = np.linspace(lookback, len(test), count, dtype=int)
        latencies = []
        for end in ends:
            window = OHLCV.of(test, int(end) - lookback, int(end))
            started = time.perf_counter()
            model.live_predict(window)  # type: ignore[attr-defined]
            latencies.append((time.perf_counter() - started) * 1000.0)
        print(f"live_predict {name:<24} {_pct(latencies)}  ({count} windows)")


def in_cycle(days: int) -> None:
    from apps.ai.models import AiDecision
    from apps.bots.models import Bot
    from apps.core.demo import demo_load
    from apps.trading.models import BotCycle
    from apps.trading.replay import replay_bot
    from tests.factories import make_ema_paper_bot

    call_command("migrate", verbosity=0)
    demo_load()
    start = datetime(2025, 9, 1, tzinfo=UTC)
    end = datetime(2025, 9, 1 + days, tzinfo=UTC)
    plain = make_ema_paper_bot("bench-ema", account="paper-bench", symbols=("BTCUSDT",))
    for bot in (Bot.objects.get(name="demo-ai"), plain):
        started = time.perf_counter()
        summary = replay_bot(bot=bot, start=start, end=end, label="bench")
        seconds = time.perf_counter() - started
        copy = Bot.objects.get(name=summary.bot)
        cycles = BotCycle.objects.filter(bot=copy).count()
        ai = list(AiDecision.objects.filter(bot=copy).values_list("latency_ms", flat=True))
        line = f"cycle {bot.name:<10} {cycles} cycles in {seconds:6.1f} s = "
        line += f"{seconds / cycles * 1000:6.1f} ms/cycle"
        if ai:
            line += f"; the AI inside: {_pct(ai)}"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    import torch

    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{datetime.now(UTC):%Y-%m-%d}")  # fmt: skip
    candles = OHLCV.of(load_klines(DATA))
    train = _cut(candles, datetime(2023, 1, 1, tzinfo=UTC), datetime(2025, 7, 1, tzinfo=UTC))
    test = _cut(candles, datetime(2025, 7, 1, tzinfo=UTC), datetime(2025, 10, 1, tzinfo=UTC))
    ppo, a2c, lstm = training(train, args.quick)
    models = {
        "ppo": ppo,
        "lstm": lstm,
        "hybrid (ppo + lstm)": HybridAI(HybridMode.HYBRID, agent=ppo, predictor=lstm),
        "ensemble (ppo, a2c, lstm)": EnsembleAgent((ppo, a2c, lstm), EnsembleMode.MAJORITY),
    }
    inference(models, test, 500 if args.quick else 2000)
    in_cycle(3 if args.quick else 14)


if __name__ == "__main__":
    main()
