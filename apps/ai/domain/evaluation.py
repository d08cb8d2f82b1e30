"""Judging a model on candles it did not train on: its actions played with the environment's rules
(``simulate_actions``: the backtest kernels' fee, book slippage and funding), beside the two
baselines every model must beat to be worth anything: buy-and-hold and always-flat.

Figures (``ActionMetrics``): total return, Sharpe ratio (per-candle returns annualised by the
number of candles in a year), maximum drawdown, trades, exposure (share of candles in a
position), and what fees, slippage and funding cost.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from apps.ai.domain.env import EnvConfig, Funding, simulate_actions
from apps.ai.domain.types import AiAction, Predictor
from apps.strategies.domain.base import OHLCV, CandleArrays

YEAR_MS = 365 * 24 * 3_600_000


@dataclass(frozen=True, slots=True)
class ActionMetrics:
    total_return: float
    sharpe: float
    max_drawdown: float
    trades: int
    exposure: float
    fees: float
    slippage: float
    funding: float
    candles: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _periods_per_year(candles: OHLCV) -> float:
    if len(candles) < 2:
        return 1.0
    step = float(np.median(np.diff(candles.open_time)))
    return YEAR_MS / step if step > 0 else 1.0


def action_metrics(
    candles: CandleArrays,
    actions: Any,
    config: EnvConfig | None = None,
    *,
    funding: Funding | None = None,
) -> ActionMetrics:
    """Play ``actions`` (one per candle, ``AiAction`` values) and measure the result."""
    series = OHLCV.of(candles)
    run = simulate_actions(series, actions, config, funding=funding)
    returns = run.returns[1:]
    std = float(returns.std()) if returns.size > 1 else 0.0
    sharpe = float(returns.mean()) / std * math.sqrt(_periods_per_year(series)) if std > 0 else 0.0
    peak = np.maximum.accumulate(run.equity)
    drawdown = float(np.max((peak - run.equity) / peak)) if run.equity.size else 0.0
    return ActionMetrics(
        total_return=float(run.equity[-1] / run.equity[0] - 1.0),
        sharpe=sharpe,
        max_drawdown=drawdown,
        trades=int(run.trades),
        exposure=float(np.mean(run.position[1:] != 0)) if len(series) > 1 else 0.0,
        fees=float(run.fees.sum()),
        slippage=float(run.slippage.sum()),
        funding=float(run.funding.sum()),
        candles=len(series),
    )


def judge(
    model: Predictor,
    candles: CandleArrays,
    config: EnvConfig | None = None,
    *,
    funding: Funding | None = None,
) -> dict[str, dict[str, Any]]:
    """The model's figures on ``candles`` and those of buy-and-hold and always-flat on the
    same candles (the model sees the history it needs from the start of ``candles``)."""
    series = OHLCV.of(candles)
    actions, _ = model.predict_series(series)
    n = len(series)
    hold = np.full(n, AiAction.LONG, dtype=np.int8)
    hold[: model.lookback - 1] = AiAction.FLAT  # the same candles in the market as the model
    return {
        "model": action_metrics(series, actions, config, funding=funding).as_dict(),
        "buy_and_hold": action_metrics(series, hold, config, funding=funding).as_dict(),
        "flat": action_metrics(
            series, np.zeros(n, dtype=np.int8), config, funding=funding
        ).as_dict(),
    }
