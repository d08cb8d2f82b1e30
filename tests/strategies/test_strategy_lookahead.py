"""The look-ahead guard: built-in strategies are clean, a peeking strategy is caught."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from apps.market.data import Klines, load_klines
from apps.strategies.domain.base import OHLCV, SignalFrame
from apps.strategies.domain.ema_cross import EmaCross
from apps.strategies.domain.lookahead import find_lookahead, prefix_cuts
from apps.strategies.domain.registry import build_strategy

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "futures"


@pytest.fixture(scope="module", params=["BTCUSDT-1h.csv.gz", "ETHUSDT-5m.csv.gz"])
def candles(request: pytest.FixtureRequest) -> Klines:
    path = DATA / request.param
    if not path.is_file():
        pytest.skip(f"the shared market data is not at {path}")
    return load_klines(path)


class PeekNextClose(EmaCross):
    """Enters when the NEXT close is higher: look-ahead bias by construction."""

    def signals(self, candles: OHLCV) -> SignalFrame:
        frame = SignalFrame.empty(len(candles))
        nxt = np.append(candles.close[1:], candles.close[-1])
        frame.enter_long[:] = nxt > candles.close
        return frame


class CenteredMean(EmaCross):
    """Uses a centred rolling mean (a common pandas mistake): peeks 5 candles ahead."""

    def signals(self, candles: OHLCV) -> SignalFrame:
        frame = SignalFrame.empty(len(candles))
        kernel = np.ones(11) / 11
        centred = np.convolve(candles.close, kernel, mode="same")
        stop = np.where(candles.close > centred, candles.close * 0.98, np.nan)
        return SignalFrame(
            candles.close > centred, frame.exit_long, frame.enter_short, frame.exit_short, stop
        )


@pytest.mark.parametrize("kind", ["ema_cross", "bollinger_scalp", "trend_swing", "signal"])
def test_find_lookahead_with_builtin_strategy_finds_nothing(kind: str, candles) -> None:
    assert find_lookahead(build_strategy(kind), candles, count=12) == []


def test_find_lookahead_with_peeking_strategy_reports_changed_signals(candles) -> None:
    cuts = [500, 1000, 5000]
    diffs = find_lookahead(PeekNextClose(), candles, cuts=cuts)
    assert diffs
    assert {d.index for d in diffs} <= {k - 1 for k in cuts}
    assert all(d.column == "enter_long" for d in diffs)
    first = diffs[0]
    assert first.full_value != first.truncated_value
    assert isinstance(first.full_value, bool)


def test_find_lookahead_with_centred_window_reports_float_columns_too(candles) -> None:
    diffs = find_lookahead(CenteredMean(), candles, cuts=[2000, 3000])
    columns = {d.column for d in diffs}
    assert "enter_long" in columns
    # A centred window of 11 peeks 5 candles ahead: only the last rows of a prefix change.
    assert all(any(k - 6 <= d.index < k for k in (2000, 3000)) for d in diffs)


def test_prefix_cuts_with_short_data_stays_in_range() -> None:
    assert prefix_cuts(10, start=20, count=5) == []
    cuts = prefix_cuts(1000, start=100, count=5)
    assert cuts[0] == 100 and cuts[-1] == 999 and len(cuts) == 5
