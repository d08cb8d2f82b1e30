"""HybridAI: the seed's modes over the agent (PPO / A2C), the LSTM predictor and the ensemble,
with a minimum confidence, and the two roles a bot gives it.

Modes (``HybridMode``):
- ``off``: no opinion (``FLAT``, confidence 0): the AI is not asked;
- ``ppo_only`` (the seed's default): the agent's action and confidence;
- ``lstm_only``: the LSTM's;
- ``hybrid``: the weighted mix of the agent's action probabilities and the LSTM's direction
  probability ``p`` read as a distribution over (flat, long, short) =
  ``(1 - |2p - 1|, max(0, 2p - 1), max(0, 1 - 2p))``; ``weight`` is the agent's share; the action
  is the most probable one, the confidence its mixed probability (a tie: ``FLAT``);
- ``ensemble``: the ``EnsembleAgent``'s.

``min_confidence``: an opinion under it is not confident (``AiOpinion.confident`` is False).

Roles (what the trading cycle does with an opinion; ``filter_allows`` and ``driver_signals``
are the rules, shared by live trading and backtests):
- ``filter``: a rule strategy's entry goes ahead only when the AI is confident AND agrees
  (LONG for a long entry, SHORT for a short one); otherwise it is vetoed;
- ``driver``: the AI's confident action is the decision: LONG / SHORT enter when flat; a
  confident different action (FLAT or the other side) exits the position; an opinion that is
  not confident changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np

from apps.ai.domain.ensemble import EnsembleAgent
from apps.ai.domain.types import (
    ActionArray,
    AiAction,
    AiModelError,
    FloatArray,
    Prediction,
    Predictor,
)
from apps.strategies.domain.ai_driver import driver_signals as driver_signals
from apps.strategies.domain.base import OHLCV, CandleArrays


class HybridMode(StrEnum):
    OFF = "off"
    PPO_ONLY = "ppo_only"
    LSTM_ONLY = "lstm_only"
    HYBRID = "hybrid"
    ENSEMBLE = "ensemble"


class AiRole(StrEnum):
    NONE = "none"
    FILTER = "filter"
    DRIVER = "driver"


class ProbabilisticAgent(Predictor, Protocol):
    def probabilities_series(self, candles: CandleArrays) -> FloatArray:
        """(n, 3) probabilities of FLAT, LONG, SHORT per candle (nan rows before lookback)."""
        ...


class DirectionPredictor(Predictor, Protocol):
    def probabilities_series(self, candles: CandleArrays) -> FloatArray:
        """(n,) probability that the price goes up, per candle (nan before lookback)."""
        ...


@dataclass(frozen=True, slots=True)
class AiOpinion:
    action: AiAction
    confidence: float
    confident: bool


def lstm_distribution(p_up: FloatArray) -> FloatArray:
    """The LSTM's up-probability as a distribution over (flat, long, short), shape (n, 3)."""
    p = np.asarray(p_up, dtype=np.float64)
    return np.column_stack(
        (
            1.0 - np.abs(2.0 * p - 1.0),
            np.maximum(0.0, 2.0 * p - 1.0),
            np.maximum(0.0, 1.0 - 2.0 * p),
        )
    )


@dataclass(frozen=True)
class HybridAI:
    mode: HybridMode = HybridMode.PPO_ONLY
    agent: ProbabilisticAgent | None = None
    predictor: DirectionPredictor | None = None
    ensemble: EnsembleAgent | None = None
    weight: float = 0.5  # the agent's share in hybrid mode
    min_confidence: float = 0.0

    def __post_init__(self) -> None:
        needs = {
            HybridMode.PPO_ONLY: ("agent",),
            HybridMode.LSTM_ONLY: ("predictor",),
            HybridMode.HYBRID: ("agent", "predictor"),
            HybridMode.ENSEMBLE: ("ensemble",),
            HybridMode.OFF: (),
        }[self.mode]
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            raise AiModelError(f"HybridAI mode {self.mode} needs: {', '.join(missing)}")
        if not 0.0 <= self.weight <= 1.0:
            raise AiModelError(f"the agent's weight must be in [0, 1], got {self.weight}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise AiModelError(f"min_confidence must be in [0, 1], got {self.min_confidence}")

    def _parts(self) -> tuple[Predictor, ...]:
        return tuple(p for p in (self.agent, self.predictor, self.ensemble) if p is not None)

    @property
    def lookback(self) -> int:
        if self.mode is HybridMode.OFF:
            return 1
        if self.mode is HybridMode.PPO_ONLY:
            return self.agent.lookback  # type: ignore[union-attr]
        if self.mode is HybridMode.LSTM_ONLY:
            return self.predictor.lookback  # type: ignore[union-attr]
        if self.mode is HybridMode.ENSEMBLE:
            return self.ensemble.lookback  # type: ignore[union-attr]
        return max(self.agent.lookback, self.predictor.lookback)  # type: ignore[union-attr]

    def predict_series(self, candles: CandleArrays) -> tuple[ActionArray, FloatArray]:
        series = OHLCV.of(candles)
        n = len(series)
        if self.mode is HybridMode.OFF:
            return np.zeros(n, dtype=np.int8), np.zeros(n)
        if self.mode is HybridMode.PPO_ONLY:
            return self.agent.predict_series(series)  # type: ignore[union-attr]
        if self.mode is HybridMode.LSTM_ONLY:
            return self.predictor.predict_series(series)  # type: ignore[union-attr]
        if self.mode is HybridMode.ENSEMBLE:
            return self.ensemble.predict_series(series)  # type: ignore[union-attr]
        agent = self.agent.probabilities_series(series)  # type: ignore[union-attr]
        lstm = lstm_distribution(self.predictor.probabilities_series(series))  # type: ignore[union-attr]
        mixed = self.weight * agent + (1.0 - self.weight) * lstm
        best = np.nanmax(np.where(np.isnan(mixed), -1.0, mixed), axis=1)
        ties = (mixed == best[:, None]).sum(axis=1) > 1
        action = np.where(ties, AiAction.FLAT, np.argmax(np.nan_to_num(mixed, nan=-1.0), axis=1))
        confidence = np.where(np.isnan(best) | (best < 0), 0.0, best)
        short = np.arange(n) < self.lookback - 1
        action = np.where(short, AiAction.FLAT, action).astype(np.int8)
        return action, np.where(short, 0.0, np.clip(confidence, 0.0, 1.0))

    def live_predict(self, market_data: object) -> Prediction:
        window = OHLCV.of(market_data)  # type: ignore[arg-type]
        if self.mode is HybridMode.OFF:
            return Prediction(AiAction.FLAT, 0.0)
        if len(window) < self.lookback:
            raise AiModelError(f"HybridAI needs {self.lookback} candles, got {len(window)}")
        tail = OHLCV.of(window, len(window) - self.lookback)
        actions, confidences = self.predict_series(tail)
        return Prediction(AiAction(int(actions[-1])), float(confidences[-1]))

    def opinion(self, market_data: object) -> AiOpinion:
        """The prediction at the last candle, and whether it reaches ``min_confidence``."""
        action, confidence = self.live_predict(market_data)
        confident = self.mode is not HybridMode.OFF and confidence >= self.min_confidence
        return AiOpinion(action, confidence, confident)

    def opinions_series(self, candles: CandleArrays) -> tuple[ActionArray, FloatArray, np.ndarray]:
        """``predict_series`` and the confident mask (backtests)."""
        actions, confidences = self.predict_series(candles)
        confident = (confidences >= self.min_confidence) & (self.mode is not HybridMode.OFF)
        confident &= np.arange(len(actions)) >= self.lookback - 1
        return actions, confidences, confident


def filter_allows(opinion: AiOpinion, *, long: bool) -> bool:
    """The ``filter`` role: an entry goes ahead only if the AI confidently agrees with it."""
    wanted = AiAction.LONG if long else AiAction.SHORT
    return opinion.confident and opinion.action is wanted
