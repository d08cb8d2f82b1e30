"""Bounded label values: what is not a short identifier is reported as ``other``."""

from __future__ import annotations

import re

OTHER = "other"
_IDENT = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def label(value: object, *, default: str = "none") -> str:
    """Return ``value`` as a label value: a short identifier as it is, empty as ``default``,
    anything else (free text, long strings) as ``other``."""
    text = "" if value is None else str(value)
    if not text:
        return default
    return text if _IDENT.fullmatch(text) else OTHER


def status_class(status: int) -> str:
    """``2xx``, ``4xx``, ... for an HTTP status code."""
    return f"{status // 100}xx"
