"""The reference strategy ``ema_cross``: long on an EMA(fast) / EMA(slow) cross of the close.

Definitions (exact; the tests hold an independent per-candle implementation to this text):

- ``fast = ema(close, fast_period)`` and ``slow = ema(close, slow_period)`` with
  ``alpha = 2 / (n + 1)``, seeded with the first close:
  ``e[0] = close[0]``, ``e[i] = alpha * close[i] + (1 - alpha) * e[i-1]`` (this float expression).
- cross above at candle ``i`` (``i >= 1``): ``fast[i-1] <= slow[i-1] and fast[i] > slow[i]``;
  cross below at ``i``: ``fast[i-1] >= slow[i-1] and fast[i] < slow[i]``.
- signals at candle indices ``i < warmup`` are ignored (``warmup`` defaults to ``slow_period``);
  a signal at the last candle has no next open and is ignored too.
- cross above while flat: buy at ``open[i+1]``; cross below while long: sell at ``open[i+1]``;
  stop-loss / take-profit / fees / end-of-data as in ``apps.backtest.research.domain.kernel``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from apps.backtest.research.domain.kernel import BracketParams, TradeLog, simulate_long_brackets
from apps.exchange.domain.fees import DEFAULT_MAKER_FEE, DEFAULT_TAKER_FEE
from apps.strategies.domain.ema_cross import ema_cross_signals

__all__ = ["EmaCrossParams", "ema_cross_signals", "ema_cross_trades"]


@dataclass(frozen=True, slots=True)
class EmaCrossParams:
    """``fee`` is the taker fee, ``maker_fee`` the take-profit's (``None``: ``fee``); both
    default to the platform's fee schedule (``apps.exchange.domain.fees``)."""

    fast: int = 12
    slow: int = 26
    warmup: int | None = None
    stop_loss: float | None = 0.02
    take_profit: float | None = 0.04
    stake: float = 1_000.0
    fee: float = DEFAULT_TAKER_FEE
    maker_fee: float | None = DEFAULT_MAKER_FEE

    def __post_init__(self) -> None:
        for name in ("fast", "slow"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.warmup is not None and (int(self.warmup) != self.warmup or self.warmup < 0):
            raise ValueError(f"warmup must be a non-negative integer, got {self.warmup!r}")
        self.bracket()  # validates stake, fee, stop_loss, take_profit

    @property
    def effective_warmup(self) -> int:
        return self.slow if self.warmup is None else int(self.warmup)

    def bracket(self) -> BracketParams:
        return BracketParams(
            stake=self.stake,
            fee=self.fee,
            stop_loss=self.stop_loss,
            take_profit=self.take_profit,
            maker_fee=self.maker_fee,
        )


def ema_cross_trades(
    open_: NDArray[np.float64],
    high: NDArray[np.float64],
    low: NDArray[np.float64],
    close: NDArray[np.float64],
    params: EmaCrossParams,
    *,
    method: Literal["batch", "events"] = "batch",
) -> TradeLog:
    """Run ``ema_cross`` over OHLC arrays and return its trades."""
    ups, downs = ema_cross_signals(
        close, fast=params.fast, slow=params.slow, warmup=params.effective_warmup
    )
    return simulate_long_brackets(
        open_,
        high,
        low,
        close,
        entry_signals=ups,
        exit_signals=downs,
        params=params.bracket(),
        method=method,
    )
