"""Walk-forward validation: rolling train/test windows and the objectives a search maximises."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from apps.backtest.research.domain.metrics import Metrics

__all__ = ["OBJECTIVES", "Window", "objective_value", "walk_forward_windows"]


@dataclass(frozen=True, slots=True)
class Window:
    """Candle index ranges ``[train_start, train_end)`` then ``[test_start, test_end)``."""

    train_start: int
    train_end: int
    test_start: int
    test_end: int


def walk_forward_windows(
    n: int, *, train: int, test: int, step: int | None = None, warmup: int = 0
) -> list[Window]:
    """Rolling windows over ``n`` candles: train on ``train`` candles, test on the next
    ``test``, move by ``step`` (default ``test``). The test part of one window never overlaps
    its own training part; ``warmup`` extra candles before each part feed the indicators.
    Raise ValueError when not even one window fits."""
    if train < 1 or test < 1:
        raise ValueError(f"train and test must be positive, got {train} and {test}")
    step = step or test
    windows = []
    start = warmup
    while start + train + test <= n:
        windows.append(Window(start, start + train, start + train, start + train + test))
        start += step
    if not windows:
        raise ValueError(
            f"{n} candles cannot hold one window of {warmup} warm-up + {train} train + "
            f"{test} test candles"
        )
    return windows


def _finite(value: float | None) -> float:
    """A figure to rank by: an undefined (``None``) or infinite figure ranks last."""
    return value if value is not None and math.isfinite(value) else -1e9


OBJECTIVES: dict[str, Callable[[Metrics], float]] = {
    "sharpe": lambda m: _finite(m.sharpe),
    "sortino": lambda m: _finite(m.sortino),
    "calmar": lambda m: _finite(m.calmar),
    "total_return": lambda m: _finite(m.total_return),
    "profit_factor": lambda m: _finite(m.profit_factor) if m.n_trades else -1e9,
    "expectancy": lambda m: _finite(m.expectancy),
}


def objective_value(name: str, metrics: Metrics) -> float:
    try:
        return OBJECTIVES[name](metrics)
    except KeyError as exc:
        raise ValueError(
            f"unknown objective {name!r} (known: {', '.join(sorted(OBJECTIVES))})"
        ) from exc
