"""Benchmark the exchange-mode backtest (the trading runner on the in-memory store); prints figures.

    python benchmarks/bench_backtest_sim.py                    # BTCUSDT 1h, 2024
    python benchmarks/bench_backtest_sim.py --year 2023 --symbol ETHUSDT

One bot, as a new ``Bot`` / ``RiskSettings`` row would be (managed trailing stop, one partial
take-profit at 2 %, break-even, CryptoVIX bands, leverage 3, 10,000 USDT paper balance) except
that its circuit-breaker tiers are empty, so the year runs to its end; strategy ``ema_cross``
9/21 (warm-up 50, sl 2 %, tp 4 %). Every candle is one full cycle: the simulated exchange fed
the candle, stops and trailing moved, breaker, strategy, risk gate with CryptoVIX, entry slices
walked through the synthetic book, protection placed, fills booked with Decimal accounting.

"run" is ``run_exchange_backtest`` alone (not reading the gzip CSV into exact Decimal candles,
which "load" is); candles/s = decided candles / run seconds.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import os
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingplatform.settings.test")

import django  # noqa: E402

django.setup()

from apps.backtest.exchange_mode.domain import (  # noqa: E402
    SimConfig,
    candles_from_rows,
    run_exchange_backtest,
)
from apps.exchange.domain.types import Candle, ms_to_datetime  # noqa: E402
from apps.exchange.models import Instrument  # noqa: E402
from apps.exchange.reference_data import MAX_LEVERAGE, exchange_info_symbols  # noqa: E402
from apps.exchange.services import instrument_values  # noqa: E402
from apps.execution.domain.partial_exit import TakeProfitLevel  # noqa: E402
from apps.market.data import load_funding  # noqa: E402
from apps.risk.domain.vix import VolatilityBand  # noqa: E402
from apps.risk.validation import DEFAULT_VOLATILITY_BANDS  # noqa: E402
from apps.trading.domain.profile import BotProfile  # noqa: E402
from apps.trading.paper import instrument_info  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "futures"
PARAMS = {"fast": 9, "slow": 21, "warmup": 50, "sl": 0.02, "tp": 0.04}


def load_candles(path: Path, start_ms: int, end_ms: int) -> list[Candle]:
    """Exact candles of [start_ms, end_ms), as ``klines_import`` stores them."""
    with gzip.open(path, "rt") as handle:
        return candles_from_rows(csv.DictReader(handle), "1h", start_ms, end_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbol", default="BTCUSDT")
    parser.add_argument("--year", type=int, default=2024)
    args = parser.parse_args()
    symbol = args.symbol
    start = datetime(args.year, 1, 1, tzinfo=UTC)
    end = datetime(args.year + 1, 1, 1, tzinfo=UTC)
    warm = timedelta(days=10)  # strategy warm-up and CryptoVIX's 100 hours

    t0 = time.perf_counter()
    start_ms = int((start - warm).timestamp() * 1000)
    end_ms = int(end.timestamp() * 1000)
    candles = load_candles(DATA / f"{symbol}-1h.csv.gz", start_ms, end_ms)
    hourly = {symbol: candles}
    if symbol != "BTCUSDT":
        hourly["BTCUSDT"] = load_candles(DATA / "BTCUSDT-1h.csv.gz", start_ms, end_ms)
    rates = load_funding(DATA / f"{symbol}-funding.csv.gz")
    funding = [
        (ms_to_datetime(int(t)), Decimal(repr(float(r))))
        for t, r in zip(rates.funding_time.tolist(), rates.funding_rate.tolist(), strict=True)
        if start_ms <= t < end_ms
    ]
    entry = next(e for e in exchange_info_symbols() if e["symbol"] == symbol)
    info = instrument_info(
        Instrument(symbol=symbol, **instrument_values(entry, max_leverage=MAX_LEVERAGE[symbol]))
    )
    load_s = time.perf_counter() - t0

    profile = BotProfile(
        bot_key="b1",
        strategy_kind="ema_cross",
        strategy_params=PARAMS,
        volatility_bands=tuple(
            VolatilityBand(float(b["max_score"]), Decimal(b["size_multiplier"]))
            for b in DEFAULT_VOLATILITY_BANDS
        ),
        exit_levels=(TakeProfitLevel(Decimal("0.02"), Decimal("0.5")),),
    )
    config = SimConfig(
        profile=profile,
        symbols=(symbol,),
        timeframe="1h",
        instruments={symbol: info},
        balance=Decimal(10_000),
        seed=1,
        start=start,
        end=end,
    )
    t1 = time.perf_counter()
    result = run_exchange_backtest(config, {symbol: candles}, {symbol: funding}, hourly=hourly)
    run_s = time.perf_counter() - t1
    closed = result.closed_trades
    net = sum((t.net_pnl for t in closed), Decimal(0))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"{symbol} 1h {args.year}: {result.cycles} candles decided, {len(closed)} closed trades")
    print(f"  outcomes {result.outcomes}; stopped: {result.stopped or 'no'}")
    print(f"  net PnL {net:.2f} USDT, final equity {result.equity[-1]:.2f}")
    print(f"  load {load_s:.2f} s; run {run_s:.2f} s = {result.cycles / run_s:,.0f} candles/s")
    print(f"  peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
