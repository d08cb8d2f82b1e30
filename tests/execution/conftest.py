"""Shared helpers of the execution kernel tests: the real Tardis book snapshots, instruments."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest

from apps.exchange.domain.types import BookTicker, InstrumentInfo, OrderBook

BOOK_FILE = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "data"
    / "orderbook"
    / "tardis-binance-futures-BTCUSDT-book_snapshot_25-2020-09-01.csv"
)


def btc_info(**overrides: object) -> InstrumentInfo:
    """BTCUSDT as it traded in September 2020 (tick 0.01, step 0.001, min notional 5)."""
    values: dict[str, object] = {
        "symbol": "BTCUSDT",
        "base_asset": "BTC",
        "quote_asset": "USDT",
        "tick_size": Decimal("0.01"),
        "step_size": Decimal("0.001"),
        "min_qty": Decimal("0.001"),
        "max_qty": Decimal("1000"),
        "market_min_qty": Decimal("0.001"),
        "market_max_qty": Decimal("120"),
        "market_step_size": Decimal("0.001"),
        "min_notional": Decimal("5"),
    }
    values.update(overrides)
    return InstrumentInfo(**values)  # type: ignore[arg-type]


def load_snapshots() -> list[tuple[OrderBook, BookTicker]]:
    """The ten real top-25 snapshots of the file, as (book, book ticker) pairs."""
    if not BOOK_FILE.is_file():
        pytest.skip(f"the shared order-book sample is not at {BOOK_FILE}")
    out = []
    with BOOK_FILE.open(newline="") as handle:
        for row in csv.DictReader(handle):
            asks = [
                (Decimal(row[f"asks[{i}].price"]), Decimal(row[f"asks[{i}].amount"]))
                for i in range(25)
            ]
            bids = [
                (Decimal(row[f"bids[{i}].price"]), Decimal(row[f"bids[{i}].amount"]))
                for i in range(25)
            ]
            book = OrderBook.from_levels(row["symbol"], bids, asks)
            ticker = BookTicker(
                row["symbol"],
                book.bids[0].price,
                book.bids[0].qty,
                book.asks[0].price,
                book.asks[0].qty,
            )
            out.append((book, ticker))
    return out


@pytest.fixture(scope="module")
def snapshots() -> list[tuple[OrderBook, BookTicker]]:
    return load_snapshots()


@pytest.fixture(scope="module")
def snapshot(snapshots: list[tuple[OrderBook, BookTicker]]) -> tuple[OrderBook, BookTicker]:
    return snapshots[0]


@pytest.fixture
def info() -> InstrumentInfo:
    return btc_info()
