"""Small value types shared by the risk kernel."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum


class Direction(StrEnum):
    """Side of a position; a `StrEnum`, so `Direction.LONG == "LONG"`."""

    LONG = "LONG"
    SHORT = "SHORT"


def require_utc(value: datetime, name: str) -> datetime:
    """Return `value` unchanged; raise ValueError if it is a naive datetime."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware UTC datetime, got naive {value!r}")
    return value
