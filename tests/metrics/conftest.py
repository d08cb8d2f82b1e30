"""Helpers of the metrics tests: read a sample of this process's registry."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

import apps.metrics.collectors as collectors


def sample(name: str, **labels: str) -> float:
    """The value of one sample of this process's metrics (0 when it does not exist yet)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def total(name: str, **labels: str) -> float:
    """The sum of every sample of ``name`` whose labels include ``labels``."""
    out = 0.0
    for family in REGISTRY.collect():
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                out += s.value
    return out


@pytest.fixture
def fresh_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """A state collector with no cached reading (each test sees its own database)."""
    monkeypatch.setattr(collectors, "_collector", None)
