"""Candle series as the backtest kernel sees them (the market kernel's ``Klines``)."""

from __future__ import annotations

from apps.market.domain.candles import INTERVAL_MS, CandleSeries, Klines, interval_to_ms

Candles = Klines  # the backtest's name for the same series

__all__ = ["INTERVAL_MS", "CandleSeries", "Candles", "interval_to_ms"]
