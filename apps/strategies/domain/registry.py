"""Strategy kinds and their classes; `build_strategy` validates parameters by the kind's schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .ai_driver import AiDriverStrategy, AiOpinions
from .base import Strategy
from .bollinger_scalp import BollingerScalp
from .ema_cross import EmaCross
from .params import SCHEMAS, ParameterError
from .signal import SignalStrategy
from .trend_swing import TrendSwing

__all__ = ["STRATEGIES", "build_strategy"]

STRATEGIES: dict[str, type[Strategy]] = {
    cls.kind: cls
    for cls in (EmaCross, BollingerScalp, TrendSwing, SignalStrategy, AiDriverStrategy)
}

_missing = sorted(set(SCHEMAS) ^ set(STRATEGIES))
if _missing:  # pragma: no cover - a schema without a class (or the reverse) is a bug
    raise ImportError(f"strategy kinds without both a schema and a class: {', '.join(_missing)}")


def build_strategy(
    kind: str, params: Mapping[str, Any] | None = None, *, ai: AiOpinions | None = None
) -> Strategy:
    """Return the strategy of `kind` with validated `params`; raise ParameterError. The `ai`
    kind trades the opinions of `ai` (the bot's HybridAI)."""
    cls = STRATEGIES.get(kind)
    if cls is None:
        raise ParameterError(
            f"unknown strategy kind {kind!r} (known: {', '.join(sorted(STRATEGIES))})"
        )
    if cls is AiDriverStrategy:
        return AiDriverStrategy(params, ai=ai)
    return cls(params)
