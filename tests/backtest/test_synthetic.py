"""Synthetic candles: deterministic, well-formed, a year of 1m by default."""

from __future__ import annotations

import numpy as np

from apps.backtest.research.domain.candles import interval_to_ms
from apps.backtest.research.domain.engine import backtest_ema_cross_many
from apps.backtest.research.domain.synthetic import ONE_YEAR_1M, synthetic_candles


def test_synthetic_candles_are_deterministic_per_seed() -> None:
    a, b, c = (
        synthetic_candles(5_000, seed=1),
        synthetic_candles(5_000, seed=1),
        synthetic_candles(5_000, seed=2),
    )
    for name in ("open_time", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.close, c.close)


def test_synthetic_year_is_well_formed() -> None:
    k = synthetic_candles(seed=0)
    assert len(k) == ONE_YEAR_1M
    assert (np.diff(k.open_time) == 60_000).all()
    assert (k.high >= np.maximum(k.open, k.close)).all()
    assert (k.low <= np.minimum(k.open, k.close)).all()
    assert (k.low > 0).all() and (k.volume >= 0).all()
    assert np.array_equal(k.open[1:], k.close[:-1])
    # Realistic scale: per-minute log-return volatility of the order of 60 %/sqrt(year).
    r = np.diff(np.log(k.close))
    assert 0.3 < r.std() * np.sqrt(ONE_YEAR_1M) < 1.5
    assert (k.high > np.maximum(k.open, k.close)).mean() > 0.5


def test_interval_to_ms_and_many_symbols() -> None:
    assert interval_to_ms("1m") == 60_000 and interval_to_ms("4h") == 14_400_000
    series = [synthetic_candles(3_000, seed=s, symbol=f"S{s}USDT") for s in range(3)]
    result = backtest_ema_cross_many(series)
    assert set(result.results) == {"S0USDT-1m", "S1USDT-1m", "S2USDT-1m"}
    assert result.n_candles == 9_000
    assert result.n_trades == sum(len(r.trades) for r in result.results.values())
