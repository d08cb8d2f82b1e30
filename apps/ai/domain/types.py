"""The contract every AI model keeps: ``live_predict`` and ``predict_series`` give
``(action, confidence)`` (the seed's EnsembleAgent returned a bare action and nothing noticed).

- ``action``: the position the model wants now: ``FLAT``, ``LONG`` or ``SHORT`` (an ``AiAction``).
- ``confidence``: in [0, 1]: the policy's probability of that action (agents), the predicted
  probability of the direction (the LSTM), or the ensemble's combined support.

A model sees features only (``features.FeatureSpec``), never the account's position: so the
actions of a whole series (``predict_series``, backtests) are exactly the ones ``live_predict``
gives candle by candle, whatever stops and take-profits did to the position in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from apps.strategies.domain.base import CandleArrays

FloatArray = NDArray[np.float64]
ActionArray = NDArray[np.int8]


class AiAction(IntEnum):
    FLAT = 0
    LONG = 1
    SHORT = 2

    @property
    def sign(self) -> int:
        return {AiAction.FLAT: 0, AiAction.LONG: 1, AiAction.SHORT: -1}[self]


SIGNS = np.array([0, 1, -1], dtype=np.int8)  # AiAction value -> target position sign


@dataclass(frozen=True, slots=True)
class Prediction:
    action: AiAction
    confidence: float

    # untyped on purpose: typed, it would be Iterator[AiAction | float] and unpacking would give
    # each name the union instead of (AiAction, float)
    def __iter__(self):  # type: ignore[no-untyped-def]
        """Unpack as the seed's tuple: ``action, confidence = model.live_predict(...)``."""
        yield self.action
        yield self.confidence


class AiModelError(ValueError):
    """A model cannot be built, loaded or asked (wrong features, corrupt bytes, ...)."""


@runtime_checkable
class Predictor(Protocol):
    """What every model kind offers (agents, the LSTM, the ensemble, HybridAI)."""

    @property
    def lookback(self) -> int:
        """Closed candles ``live_predict`` needs (features' lookback plus any sequence)."""
        ...

    def live_predict(self, market_data: object) -> Prediction:
        """The action and confidence at the last closed candle of ``market_data`` (an
        ``OHLCV``-like window of at least ``lookback`` candles)."""
        ...

    def predict_series(self, candles: CandleArrays) -> tuple[ActionArray, FloatArray]:
        """Actions and confidences for every candle of a series (``FLAT`` / 0 where there is
        too little history); row ``i`` equals ``live_predict`` on the candles ``0..i``."""
        ...
