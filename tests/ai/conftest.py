"""Synthetic candles with a planted, learnable pattern, for the AI tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from apps.strategies.domain.base import OHLCV


def planted(n: int = 3000, *, persistence: float = 0.8, move: float = 0.01, seed: int = 7) -> OHLCV:
    """Candles whose direction repeats the previous candle's with probability ``persistence``
    (a momentum anyone looking at the last return can trade), 1-hour steps."""
    rng = np.random.default_rng(seed)
    signs = np.empty(n)
    signs[0] = 1.0
    flips = rng.random(n) > persistence
    for i in range(1, n):
        signs[i] = -signs[i - 1] if flips[i] else signs[i - 1]
    size = move * (0.5 + rng.random(n))
    close = 100.0 * np.exp(np.cumsum(signs * size))
    open_ = np.concatenate(([100.0], close[:-1]))
    high = np.maximum(open_, close) * (1 + 0.001)
    low = np.minimum(open_, close) * (1 - 0.001)
    volume = 1000.0 + rng.random(n) * 100
    times = (1_700_000_000_000 + np.arange(n) * 3_600_000).astype(np.int64)
    return OHLCV(times, open_, high, low, close, volume)


@pytest.fixture
def planted_candles() -> OHLCV:
    return planted()


def register(model: Any, kind: str, **fields: Any) -> Any:
    """Store a trained domain model in the registry (status candidate) and return its row."""
    from apps.ai.models import ModelArtifact
    from apps.ai.services import artifact_store

    artifact = ModelArtifact.objects.create(
        kind=kind, status=ModelArtifact.Status.CANDIDATE, **fields
    )
    return artifact_store(artifact=artifact, data=model.to_bytes())
