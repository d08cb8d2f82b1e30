"""Factories for the exchange kernel tests: instruments, a settable clock, candles."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from apps.exchange.domain.simulated import DepthModel, SimulatedExchange
from apps.exchange.domain.types import Candle, InstrumentInfo

DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "futures"
HOUR = timedelta(hours=1)
T0 = datetime(2024, 1, 1, tzinfo=UTC)

BTC_EXCHANGE_INFO = {
    "symbol": "BTCUSDT",
    "status": "TRADING",
    "contractType": "PERPETUAL",
    "baseAsset": "BTC",
    "quoteAsset": "USDT",
    "pricePrecision": 2,
    "quantityPrecision": 3,
    "filters": [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": "556.80",
            "maxPrice": "4529764",
            "tickSize": "0.10",
        },
        {"filterType": "LOT_SIZE", "stepSize": "0.001", "maxQty": "1000", "minQty": "0.001"},
        {"filterType": "MARKET_LOT_SIZE", "stepSize": "0.001", "maxQty": "120", "minQty": "0.001"},
        {"filterType": "MAX_NUM_ORDERS", "limit": 200},
        {"filterType": "MIN_NOTIONAL", "notional": "100"},
        {
            "filterType": "PERCENT_PRICE",
            "multiplierUp": "1.0500",
            "multiplierDown": "0.9500",
            "multiplierDecimal": "4",
        },
    ],
}


def btc_info() -> InstrumentInfo:
    return InstrumentInfo.from_binance(BTC_EXCHANGE_INFO, max_leverage=125)


class SimClock:
    """A settable UTC clock: call it for the time, `advance` to move it."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta = HOUR) -> datetime:
        self.now += delta
        return self.now


def candle(
    open_time: datetime,
    o: str | int | Decimal,
    h: str | int | Decimal,
    low: str | int | Decimal,
    c: str | int | Decimal,
    volume: str | int | Decimal = 1000,
) -> Candle:
    return Candle(
        open_time,
        Decimal(o),
        Decimal(h),
        Decimal(low),
        Decimal(c),
        Decimal(volume),
        open_time + HOUR,
    )


def real_btc_candles(start: datetime, count: int) -> list[Candle]:
    """Read `count` real BTCUSDT 1h candles from the shared data, starting at `start`."""
    if not (DATA / "BTCUSDT-1h.csv.gz").exists():
        pytest.skip(f"shared market data not found at {DATA}")
    with gzip.open(DATA / "BTCUSDT-1h.csv.gz", "rt") as fh:
        frame = pd.read_csv(fh, dtype=str)  # exact decimal text, no float round trip
    start_ms = int(start.timestamp() * 1000)
    rows = frame[frame["open_time"].astype("int64") >= start_ms].head(count)
    out = []
    for row in rows.itertuples(index=False):
        t = datetime.fromtimestamp(int(row.open_time) / 1000, tz=UTC)
        out.append(
            Candle(
                t,
                Decimal(row.open),
                Decimal(row.high),
                Decimal(row.low),
                Decimal(row.close),
                Decimal(row.volume),
                t + HOUR,
            )
        )
    return out


def real_btc_funding(start: datetime, end: datetime) -> list[tuple[datetime, Decimal]]:
    """Real BTCUSDT funding rates with start <= time <= end, from the shared data."""
    path = DATA / "BTCUSDT-funding.csv.gz"
    if not path.exists():
        pytest.skip(f"shared market data not found at {DATA}")
    with gzip.open(path, "rt") as fh:
        frame = pd.read_csv(fh, dtype={"funding_time": "int64", "funding_rate": "str"})
    lo, hi = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    rows = frame[(frame["funding_time"] >= lo) & (frame["funding_time"] <= hi)]
    return [
        (datetime.fromtimestamp(t / 1000, tz=UTC), Decimal(r))
        for t, r in zip(rows["funding_time"], rows["funding_rate"], strict=True)
    ]


class Feeder:
    """Drives a SimulatedExchange: feeds a candle and moves the clock to its close."""

    def __init__(self, exchange: SimulatedExchange, clock: SimClock, symbol: str = "BTCUSDT"):
        self.exchange = exchange
        self.clock = clock
        self.symbol = symbol
        self.next_open = clock.now

    def feed(self, c: Candle) -> None:
        self.clock.now = c.open_time + HOUR
        self.exchange.on_candle(self.symbol, c)
        self.next_open = c.open_time + HOUR

    def bar(
        self,
        o: str | int | Decimal,
        h: str | int | Decimal,
        low: str | int | Decimal,
        c: str | int | Decimal,
        volume: str | int | Decimal = 1000,
    ) -> Candle:
        bar = candle(self.next_open, o, h, low, c, volume)
        self.feed(bar)
        return bar


def make_exchange(
    *,
    balance: str = "10000",
    seed: int = 0,
    funding: list[tuple[datetime, Decimal]] | None = None,
    depth: DepthModel | None = None,
    start: datetime = T0,
) -> tuple[SimulatedExchange, Feeder]:
    clock = SimClock(start)
    exchange = SimulatedExchange(
        [btc_info()],
        clock=clock,
        balance=Decimal(balance),
        seed=seed,
        depth=depth,
        funding_rates={"BTCUSDT": funding} if funding else None,
    )
    return exchange, Feeder(exchange, clock)


@pytest.fixture
def sim() -> tuple[SimulatedExchange, Feeder]:
    return make_exchange()
