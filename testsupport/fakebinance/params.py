"""Parsing helpers for Binance request parameters (all arrive as strings)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from . import errors

CLIENT_ID_RE = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")


def decimal(params: dict[str, str], name: str, required: bool = False) -> Decimal | None:
    """Return ``params[name]`` as a Decimal; raise -1102 when required and absent or malformed."""
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise errors.missing(name)
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise errors.bad_param(name) from None
    if not value.is_finite():
        raise errors.bad_param(name)
    return value


def boolean(params: dict[str, str], name: str) -> bool | None:
    """Return "true"/"false" as a bool (case-insensitive); raise -1102 for anything else."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    low = raw.lower()
    if low not in ("true", "false"):
        raise errors.bad_param(name)
    return low == "true"


def integer(params: dict[str, str], name: str, default: int | None = None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise errors.bad_param(name) from None


def choice(
    params: dict[str, str],
    name: str,
    allowed: tuple[str, ...],
    code: int,
    msg: str,
    default: str | None = None,
) -> str:
    """Return an enum parameter; raise -1102 when absent without default, ``code`` when invalid."""
    raw = params.get(name) or default
    if raw is None:
        raise errors.missing(name)
    if raw not in allowed:
        raise errors.BinanceError(code, msg)
    return raw


def client_id(params: dict[str, str], name: str) -> str | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not CLIENT_ID_RE.match(raw):
        raise errors.BinanceError(-4015, "Client order id is not valid.")
    return raw
