"""Deterministic synthetic candles for benchmarks and tests.

A geometric random walk with fat-tailed steps (Student t, 4 degrees of freedom, scaled to unit
variance) and slowly varying volatility (a smoothed log-volatility path), prices snapped to a tick
grid. Each candle opens at the previous close; wicks extend the body by a half-normal multiple of
the candle's volatility; volume is log-normal and grows with the size of the move. The same
arguments always give the same candles (``numpy.random.default_rng(seed)``).
"""

from __future__ import annotations

import math

import numpy as np

from apps.backtest.research.domain.candles import Candles, interval_to_ms

__all__ = ["ONE_YEAR_1M", "synthetic_candles"]

ONE_YEAR_1M = 525_600
_MS_PER_YEAR = 365 * 86_400_000


def synthetic_candles(
    n: int = ONE_YEAR_1M,
    *,
    seed: int = 0,
    symbol: str = "SYNUSDT",
    interval: str = "1m",
    start_ms: int = 1_704_067_200_000,  # 2024-01-01 00:00 UTC
    start_price: float = 40_000.0,
    annual_volatility: float = 0.6,
    annual_drift: float = 0.0,
    tick: float | None = None,
) -> Candles:
    """Return ``n`` candles of a seeded random walk (see the module docstring)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not start_price > 0.0:
        raise ValueError(f"start_price must be positive, got {start_price}")
    interval_ms = interval_to_ms(interval)
    rng = np.random.default_rng(seed)
    dt = interval_ms / _MS_PER_YEAR
    sigma = annual_volatility * math.sqrt(dt)

    # Slowly varying volatility: a random path on a coarse grid (one knot per ~6 hours of 1m
    # candles), smoothed and interpolated, giving a multiplier between about 0.4 and 2.5.
    knots = max(n // 360 + 2, 2)
    coarse = np.convolve(rng.normal(size=knots + 8), np.ones(8) / math.sqrt(8), mode="valid")
    log_vol = np.interp(np.linspace(0, coarse.size - 1, n), np.arange(coarse.size), coarse)
    vol = sigma * np.exp(0.35 * np.clip(log_vol, -2.5, 2.5))

    shocks = rng.standard_t(4, size=n) / math.sqrt(2.0)
    steps = (annual_drift * dt - 0.5 * vol**2) + vol * shocks
    tick = tick if tick is not None else 10.0 ** (math.floor(math.log10(start_price)) - 5)
    close = np.round(start_price * np.exp(np.cumsum(steps)) / tick) * tick
    close = np.maximum(close, tick)
    open_ = np.empty(n)
    if n:
        open_[0] = round(start_price / tick) * tick
        open_[1:] = close[:-1]
    body_high = np.maximum(open_, close)
    body_low = np.minimum(open_, close)
    wick = 0.6 * vol
    high = np.round(body_high * np.exp(np.abs(rng.normal(size=n)) * wick) / tick) * tick
    low = np.round(body_low * np.exp(-np.abs(rng.normal(size=n)) * wick) / tick) * tick
    high = np.maximum(high, body_high)
    low = np.clip(low, tick, body_low)
    volume = np.round(
        np.exp(rng.normal(loc=1.0, scale=0.5, size=n)) * (1.0 + 2.0 * np.abs(shocks)), 3
    )
    open_time = start_ms + np.arange(n, dtype=np.int64) * interval_ms
    return Candles(
        symbol=symbol,
        interval=interval,
        open_time=open_time,
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
    )
