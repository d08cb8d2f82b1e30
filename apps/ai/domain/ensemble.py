"""EnsembleAgent: several models (agents and/or predictors) deciding together.

Every member keeps the ``Predictor`` contract; so does the ensemble, in every mode (the seed's
ensemble returned a bare action and nobody noticed; a contract test runs over all of them):

- ``majority``: the action most members choose (a tie: ``FLAT``); confidence = the share of
  members choosing it times their mean confidence.
- ``confidence_weighted``: each member adds its confidence to its action; the action with the
  largest sum wins (a tie: ``FLAT``); confidence = that sum over the number of members.
- ``best_recent_sharpe`` (FinRL's ensemble rule): at each candle, follow the member whose own
  actions had the best Sharpe ratio over the last ``window`` candles (the return of candle ``s``
  counts for the action taken at the close of ``s - 1``: no look-ahead); ties go to the first
  member; its action and confidence are the ensemble's.

Row ``i`` of ``predict_series`` depends on candles ``0..i`` only and equals ``live_predict`` on a
window ending there, because every member's rows do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, cast

import numpy as np

from apps.ai.domain.features import FeatureSpec, compute_features
from apps.ai.domain.types import (
    SIGNS,
    ActionArray,
    AiAction,
    AiModelError,
    FloatArray,
    Prediction,
    Predictor,
)
from apps.strategies.domain.base import OHLCV, CandleArrays


class SharesFeatures(Protocol):
    """A member that can decide from features computed for it (the agents, the LSTM)."""

    @property
    def feature_spec(self) -> FeatureSpec: ...

    def live_predict_features(self, raw: FloatArray) -> Prediction: ...


class EnsembleMode(StrEnum):
    MAJORITY = "majority"
    CONFIDENCE_WEIGHTED = "confidence_weighted"
    BEST_RECENT_SHARPE = "best_recent_sharpe"


@dataclass(frozen=True)
class EnsembleAgent:
    members: tuple[Predictor, ...]
    mode: EnsembleMode = EnsembleMode.CONFIDENCE_WEIGHTED
    window: int = 168  # candles of recent performance (best_recent_sharpe)

    def __post_init__(self) -> None:
        if not self.members:
            raise AiModelError("an ensemble needs at least one member")
        if self.window < 2:
            raise AiModelError(f"the ensemble's window must be at least 2, got {self.window}")

    @property
    def lookback(self) -> int:
        deepest = max(m.lookback for m in self.members)
        if self.mode is EnsembleMode.BEST_RECENT_SHARPE:
            return deepest + self.window
        return deepest

    def predict_series(self, candles: CandleArrays) -> tuple[ActionArray, FloatArray]:
        series = OHLCV.of(candles)
        votes = [m.predict_series(series) for m in self.members]
        actions = np.stack([a for a, _ in votes])  # (members, n)
        confidences = np.stack([c for _, c in votes])
        if self.mode is EnsembleMode.BEST_RECENT_SHARPE:
            out_a, out_c = _best_recent(actions, confidences, series.close, self.window)
        else:
            out_a, out_c = _combine(actions, confidences, self.mode)
        short = np.arange(len(series)) < self.lookback - 1
        out_a[short], out_c[short] = AiAction.FLAT, 0.0
        return out_a, out_c

    def live_predict(self, market_data: object) -> Prediction:
        window = OHLCV.of(market_data)  # type: ignore[arg-type]
        if len(window) < self.lookback:
            raise AiModelError(f"the ensemble needs {self.lookback} candles, got {len(window)}")
        if self.mode is EnsembleMode.BEST_RECENT_SHARPE:  # needs every member's recent rows
            tail = OHLCV.of(window, len(window) - self.lookback)
            actions, confidences = self.predict_series(tail)
            return Prediction(AiAction(int(actions[-1])), float(confidences[-1]))
        # The vote of the last candle only: each member's own live path (by the Predictor
        # contract, the last row of its predict_series), not every member's series over the
        # deepest member's lookback; the features of each spec computed once for all members
        # that read them. The same combination, so the same bits (tests/ai/test_agents.py).
        tail = OHLCV.of(window, len(window) - self.lookback)
        features: dict[FeatureSpec, FloatArray] = {}
        votes = []
        for member in self.members:
            if hasattr(member, "live_predict_features"):  # cheaper than a Protocol isinstance
                sharing = cast(SharesFeatures, member)
                spec = sharing.feature_spec
                if spec not in features:
                    features[spec] = compute_features(tail, spec)
                votes.append(sharing.live_predict_features(features[spec]))
            else:
                votes.append(member.live_predict(window))
        action, confidence = _combine(
            np.array([[int(vote.action)] for vote in votes], dtype=np.int8),
            np.array([[vote.confidence] for vote in votes], dtype=np.float64),
            self.mode,
        )
        return Prediction(AiAction(int(action[0])), float(confidence[0]))


def _combine(
    actions: np.ndarray, confidences: np.ndarray, mode: EnsembleMode
) -> tuple[ActionArray, FloatArray]:
    members, n = actions.shape
    scores = np.zeros((3, n))
    counts = np.zeros((3, n))
    for kind in AiAction:
        chosen = actions == kind
        counts[kind] = chosen.sum(axis=0)
        scores[kind] = np.where(chosen, confidences, 0.0).sum(axis=0)
    ranking = counts if mode is EnsembleMode.MAJORITY else scores
    best = ranking.max(axis=0)
    winners = (ranking == best[None, :]).sum(axis=0)
    action = np.where(winners > 1, AiAction.FLAT, ranking.argmax(axis=0)).astype(np.int8)
    rows = np.arange(n)
    agreeing = counts[action, rows]
    if mode is EnsembleMode.MAJORITY:
        mean = np.divide(scores[action, rows], agreeing, out=np.zeros(n), where=agreeing > 0)
        confidence = agreeing / members * mean
    else:
        confidence = scores[action, rows] / members
    return action, np.clip(confidence, 0.0, 1.0)


def _best_recent(
    actions: np.ndarray, confidences: np.ndarray, close: np.ndarray, window: int
) -> tuple[ActionArray, FloatArray]:
    members, n = actions.shape
    step = np.zeros(n)
    step[1:] = np.diff(np.log(close))
    positions = SIGNS[actions].astype(np.float64)  # (members, n)
    returns = np.zeros((members, n))
    returns[:, 1:] = positions[:, :-1] * step[1:]  # return of candle s for the action at s - 1
    sharpe = np.full((members, n), -np.inf)
    if n >= window:
        view = np.lib.stride_tricks.sliding_window_view(returns, window, axis=1)
        mean, std = view.mean(axis=2), view.std(axis=2)
        ratio = np.where(std > 0, mean / np.where(std > 0, std, 1.0), 0.0)
        sharpe[:, window - 1 :] = ratio
    best = sharpe.argmax(axis=0)  # first member on a tie
    rows = np.arange(n)
    return actions[best, rows].astype(np.int8), confidences[best, rows].astype(np.float64)


def ensemble_members_check(members: Sequence[object]) -> tuple[Predictor, ...]:
    """The members as predictors; raise ``AiModelError`` for one that breaks the contract."""
    for member in members:
        if not isinstance(member, Predictor):
            raise AiModelError(f"{type(member).__name__} is not a Predictor")
    return tuple(members)  # type: ignore[arg-type]
