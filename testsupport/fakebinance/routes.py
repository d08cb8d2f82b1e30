"""The route record shared by the endpoint modules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

NONE, KEY, SIGNED = "NONE", "USER_STREAM", "SIGNED"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    security: str  # NONE | USER_STREAM (API key only) | SIGNED
    handler: Callable[[Any, dict[str, str]], Any]
    counts_order: bool = False
