"""Funding in backtests: each held settlement charged at its candle, against a plain loop."""

from __future__ import annotations

import json
from io import StringIO

import numpy as np
from django.core.management import call_command

from apps.backtest.research.domain.ema_cross import EmaCrossParams
from apps.backtest.research.domain.engine import backtest_ema_cross
from apps.market.data import load_funding, load_klines

PARAMS = EmaCrossParams(fast=12, slow=26, warmup=200, stop_loss=0.02, take_profit=0.04)


def test_funding_with_real_rates_matches_a_plain_loop_and_the_equity(shared_data) -> None:
    candles = load_klines(shared_data / "futures" / "ETHUSDT-1h.csv.gz")
    rates = load_funding(shared_data / "futures" / "ETHUSDT-funding.csv.gz")
    plain = backtest_ema_cross(candles, PARAMS, initial_capital=10_000)
    funded = backtest_ema_cross(
        candles,
        PARAMS,
        initial_capital=10_000,
        funding=(rates.funding_time, rates.funding_rate),
    )
    step = 3_600_000
    by_candle: dict[int, float] = {}
    for t, r in zip(rates.funding_time.tolist(), rates.funding_rate.tolist(), strict=True):
        c = int(np.searchsorted(candles.open_time, t, side="right")) - 1
        if 0 <= c < len(candles) and t < int(candles.open_time[-1]) + step:
            by_candle[c] = by_candle.get(c, 0.0) + r
    expected = []
    for k in range(len(plain.trades)):
        e, x, q = (
            int(plain.trades.entry_index[k]),
            int(plain.trades.exit_index[k]),
            float(plain.trades.quantity[k]),
        )
        expected.append(
            sum(q * float(candles.close[c]) * by_candle.get(c, 0.0) for c in range(e, x))
        )
    paid = plain.trades.pnl - funded.trades.pnl
    assert np.allclose(paid, expected, rtol=1e-9, atol=1e-9)
    assert np.isclose(funded.funding_paid, float(np.sum(expected)), rtol=1e-12)
    assert funded.funding_paid != 0
    # the equity ends where the trades say, with funding taken at its candles
    open_at_end = int(plain.trades.exit_index[-1]) >= len(candles) - 1
    if not open_at_end:
        assert np.isclose(funded.equity[-1], 10_000 + funded.trades.pnl.sum())


def test_backtest_command_with_funding_auto_reports_funding_paid(shared_data, tmp_path) -> None:
    data = str(shared_data / "futures" / "ETHUSDT-1h.csv.gz")
    none, auto = tmp_path / "none.json", tmp_path / "auto.json"
    call_command("backtest", data=[data], json_out=str(none), stdout=StringIO())
    call_command("backtest", data=[data], funding=["auto"], json_out=str(auto), stdout=StringIO())
    a, b = json.loads(none.read_text()), json.loads(auto.read_text())
    assert a["funding_paid"] == 0.0 and b["funding_paid"] != 0.0
    assert abs(a["total_pnl"] - b["funding_paid"] - b["total_pnl"]) < 1e-6
    assert b["symbols"]["ETHUSDT-1h"]["funding_paid"] == b["funding_paid"]
