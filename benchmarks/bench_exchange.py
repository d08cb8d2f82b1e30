"""Benchmark the exchange adapters; prints figures, asserts nothing.

    python benchmarks/bench_exchange.py               # both parts
    python benchmarks/bench_exchange.py --orders 500  # adapter round trips
    python benchmarks/bench_exchange.py --sim-orders 20000

1. Binance adapter round trip: MARKET orders through `BinanceFuturesExchange` (filters, limiter,
   python-binance signing, HTTP on loopback) to the fake Binance server, which runs in its own
   thread and event loop. The in-process limiter is on (budgeting every call and resyncing from
   the response headers) with its limits raised above the burst so that the figures show
   latency, not deliberate pacing; a second run with Binance's real limits shows the pacing
   (300 orders/10 s less the 10 % safety margin). "raw" is python-binance alone, for the
   adapter's own overhead.
2. Simulated exchange throughput: MARKET orders matched per second by `SimulatedExchange`, and
   resting LIMIT orders filled per second when a candle crosses them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingplatform.settings.test")

from apps.exchange.binance import BinanceConfig, BinanceFuturesExchange, RateLimits  # noqa: E402
from apps.exchange.binance.client import new_client  # noqa: E402
from apps.exchange.domain.simulated import SimulatedExchange  # noqa: E402
from apps.exchange.domain.types import Candle, InstrumentInfo, Side  # noqa: E402
from testsupport.fakebinance import FakeBinance, RateLimitConfig  # noqa: E402
from testsupport.fakebinance.testing import FakeInThread  # noqa: E402

HIGH = RateLimitConfig(weight_per_minute=10**6, orders_per_10s=10**6, orders_per_minute=10**6)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _report(name: str, lat: list[float], wall: float) -> None:
    ms = [v * 1000 for v in lat]
    print(
        f"  {name:<34} n={len(ms):>5}  p50={_pct(ms, 0.5):6.2f} ms  p99={_pct(ms, 0.99):6.2f} ms"
        f"  mean={statistics.fmean(ms):6.2f} ms  wall={wall:6.2f} s  ({len(ms) / wall:7.1f}/s)"
    )


async def _adapter_round_trips(fb: FakeBinance, n: int, limits: RateLimits) -> None:
    config = BinanceConfig(
        api_key=fb.api_key, api_secret=fb.api_secret, base_url=fb.url, limits=limits
    )
    exchange = await BinanceFuturesExchange.create(config)
    try:
        await exchange.instrument("BTCUSDT")
        await exchange.reference_price("BTCUSDT")
        lat: list[float] = []
        t0 = time.perf_counter()
        for i in range(n):
            side = Side.BUY if i % 2 == 0 else Side.SELL
            start = time.perf_counter()
            await exchange.place_market_order("BTCUSDT", side, Decimal("0.002"))
            lat.append(time.perf_counter() - start)
        wall = time.perf_counter() - t0
        label = "adapter MARKET (limiter on)"
        if limits.orders_per_10s <= 300:
            label = "adapter MARKET (real limits, paced)"
        _report(label, lat, wall)
        print(f"    limiter waits: {exchange.limiter.waits}, retries: {exchange.transport.retried}")
    finally:
        await exchange.close()


async def _raw_round_trips(fb: FakeBinance, n: int) -> None:
    client = new_client(
        BinanceConfig(api_key=fb.api_key, api_secret=fb.api_secret, base_url=fb.url)
    )
    try:
        lat: list[float] = []
        t0 = time.perf_counter()
        for i in range(n):
            start = time.perf_counter()
            await client.futures_create_order(
                symbol="BTCUSDT",
                side="BUY" if i % 2 == 0 else "SELL",
                type="MARKET",
                quantity="0.002",
                newOrderRespType="RESULT",
            )
            lat.append(time.perf_counter() - start)
        _report("raw python-binance MARKET", lat, time.perf_counter() - t0)
    finally:
        await client.close_connection()


def bench_adapter(n: int, paced: int) -> None:
    print(f"Binance adapter -> fake Binance on loopback ({n} orders, fake in its own thread)")
    with FakeInThread(HIGH) as fb:
        high = RateLimits(weight_per_minute=10**6, orders_per_10s=10**6, orders_per_minute=10**6)
        asyncio.run(_adapter_round_trips(fb, n, high))
        asyncio.run(_raw_round_trips(fb, n))
    if paced:
        with FakeInThread(RateLimitConfig()) as fb:
            asyncio.run(_adapter_round_trips(fb, paced, RateLimits()))


def _btc() -> InstrumentInfo:
    return InstrumentInfo(
        symbol="BTCUSDT",
        base_asset="BTC",
        quote_asset="USDT",
        tick_size=Decimal("0.1"),
        step_size=Decimal("0.001"),
        min_qty=Decimal("0.001"),
        max_qty=Decimal("1000"),
        market_min_qty=Decimal("0.001"),
        market_max_qty=Decimal("120"),
        market_step_size=Decimal("0.001"),
        min_notional=Decimal("100"),
    )


def bench_simulated(n: int, resting_n: int) -> None:
    print(f"SimulatedExchange ({n} market orders, {resting_n} resting limits)")
    t = datetime(2025, 1, 1, tzinfo=UTC)
    clock = [t]
    ex = SimulatedExchange([_btc()], clock=lambda: clock[0], balance=Decimal(10**9))
    px = Decimal(100_000)
    ex.on_candle("BTCUSDT", Candle(t, px, px, px, px, Decimal(1000), t + timedelta(minutes=1)))
    clock[0] = t + timedelta(minutes=1)

    async def market() -> float:
        start = time.perf_counter()
        for i in range(n):
            await ex.place_market_order(
                "BTCUSDT", Side.BUY if i % 2 == 0 else Side.SELL, Decimal("0.002")
            )
        return time.perf_counter() - start

    async def resting() -> float:
        for i in range(resting_n):
            await ex.place_limit_order(
                "BTCUSDT", Side.BUY, Decimal("0.002"), px - Decimal(i % 500 + 1) / 10
            )
        start = time.perf_counter()
        t2 = clock[0]
        low = px - Decimal(100)
        ex.on_candle(
            "BTCUSDT", Candle(t2, px, px, low, px, Decimal(10**6), t2 + timedelta(minutes=1))
        )
        return time.perf_counter() - start

    wall = asyncio.run(market())
    print(f"  MARKET orders matched              n={n:>5}  {n / wall:10.0f} orders/s")
    wall = asyncio.run(resting())
    print(
        f"  resting LIMITs filled by a candle  n={resting_n:>5}  {resting_n / wall:10.0f} orders/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=500, help="adapter round trips")
    parser.add_argument("--paced", type=int, default=0, help="extra run at Binance's real limits")
    parser.add_argument("--sim-orders", type=int, default=20_000)
    parser.add_argument("--sim-resting", type=int, default=1_000)
    args = parser.parse_args()
    bench_adapter(args.orders, args.paced)
    bench_simulated(args.sim_orders, args.sim_resting)


if __name__ == "__main__":
    main()
