"""The AI as a strategy: the ``ai`` kind (HybridAI in the ``driver`` role) and the filter wrapper.

Both take an object giving the AI's opinion of every candle (``AiOpinions``: HybridAI does), so
this module depends on no model code. The rules:

- driver (``AiDriverStrategy``): a confident LONG / SHORT is an entry when flat; a confident
  other action (FLAT, or the other side) is the exit of the position; an opinion under the
  minimum confidence changes nothing. Entries carry a stop at ``sl`` (and a take-profit at
  ``tp`` when > 0) from the candle's close.
- filter (``AiFilteredStrategy``, for backtests; live trading applies the same rule through the
  cycle's ``ai_filter`` hook): the wrapped strategy's entry stands only where the AI confidently
  agrees with it (LONG for a long entry, SHORT for a short one); its exits are untouched.

``last_opinion`` holds the AI's action, confidence and whether it was confident at the last
candle evaluated (the cycle records it).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from .base import OHLCV, SignalFrame, Strategy, StrategyError

LONG, SHORT = 1, 2  # AiAction values


class AiOpinions(Protocol):
    @property
    def lookback(self) -> int: ...

    def opinions_series(
        self, candles: OHLCV
    ) -> tuple[NDArray[np.int8], NDArray[np.float64], NDArray[np.bool_]]:
        """Actions, confidences and the confident mask of every candle."""
        ...


@dataclass(frozen=True, slots=True)
class LastOpinion:
    action: int
    confidence: float
    confident: bool
    latency_ms: float


def driver_signals(
    actions: NDArray[np.int8], confident: NDArray[np.bool_]
) -> tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_]]:
    """The driver rule as signal columns: enter_long, exit_long, enter_short, exit_short."""
    long, short = actions == LONG, actions == SHORT
    return confident & long, confident & ~long, confident & short, confident & ~short


def _opinions(ai: AiOpinions | None, candles: OHLCV, name: str) -> tuple[Any, Any, Any, float]:
    if ai is None:
        raise StrategyError(f"{name}: no AI model: set the bot's AI settings (agent / predictor)")
    started = time.perf_counter()
    try:
        actions, confidences, confident = ai.opinions_series(candles)
    except (ValueError, ArithmeticError) as exc:
        raise StrategyError(f"{name}: the AI failed: {exc}") from exc
    return actions, confidences, confident, (time.perf_counter() - started) * 1000.0


class AiDriverStrategy(Strategy):
    kind = "ai"

    def __init__(
        self, params: Mapping[str, Any] | None = None, *, ai: AiOpinions | None = None
    ) -> None:
        super().__init__(params)
        self.ai = ai
        self.last_opinion: LastOpinion | None = None

    @property
    def min_candles(self) -> int:
        return self.ai.lookback if self.ai is not None else 2

    @property
    def warmup_candles(self) -> int:
        return self.min_candles

    def signals(self, candles: OHLCV) -> SignalFrame:
        actions, confidences, confident, latency = _opinions(self.ai, candles, self.kind)
        enter_long, exit_long, enter_short, exit_short = driver_signals(actions, confident)
        close = candles.close
        sl, tp = float(self.params["sl"]), float(self.params["tp"])
        stop = np.where(
            enter_long, close * (1 - sl), np.where(enter_short, close * (1 + sl), np.nan)
        )
        target = np.full(close.size, np.nan)
        if tp > 0:
            target = np.where(
                enter_long, close * (1 + tp), np.where(enter_short, close * (1 - tp), np.nan)
            )
        if close.size:
            self.last_opinion = LastOpinion(
                int(actions[-1]), float(confidences[-1]), bool(confident[-1]), latency
            )
        return SignalFrame(enter_long, exit_long, enter_short, exit_short, stop, target)


class AiFilteredStrategy(Strategy):
    """A rule strategy whose entries the AI must confirm (the ``filter`` role, in backtests)."""

    def __init__(self, inner: Strategy, ai: AiOpinions) -> None:
        self.inner, self.ai = inner, ai
        self.kind = inner.kind  # type: ignore[misc]
        self.params = inner.params
        self.last_opinion: LastOpinion | None = None

    @property
    def min_candles(self) -> int:
        return max(self.inner.min_candles, self.ai.lookback)

    @property
    def warmup_candles(self) -> int:
        return max(self.inner.warmup_candles, self.ai.lookback)

    def signals(self, candles: OHLCV) -> SignalFrame:
        frame = self.inner.signals(candles)
        actions, _, confident, _ = _opinions(self.ai, candles, self.inner.kind)
        return replace(
            frame,
            enter_long=frame.enter_long & confident & (actions == LONG),
            enter_short=frame.enter_short & confident & (actions == SHORT),
        )
