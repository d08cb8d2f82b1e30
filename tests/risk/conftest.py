from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pandas as pd
import pytest

DATA_DIR = Path(
    os.environ.get(
        "MARKET_DATA_DIR", Path(__file__).resolve().parents[2].parent / "shared" / "data"
    )
)


@cache
def _read_futures_1h(symbol: str) -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / "futures" / f"{symbol}-1h.csv.gz")


def _ms(iso: str) -> int:
    return int(pd.Timestamp(iso, tz="UTC").timestamp() * 1000)


@pytest.fixture
def futures_1h() -> Callable[[str, str], pd.DataFrame]:
    """Return a loader: (symbol, end ISO time) -> the real 1h candles opened before `end`."""

    def load(symbol: str, end: str) -> pd.DataFrame:
        path = DATA_DIR / "futures" / f"{symbol}-1h.csv.gz"
        if not path.exists():
            pytest.skip(f"real market data not found at {path}")
        df = _read_futures_1h(symbol)
        return df[df.open_time < _ms(end)]

    return load
