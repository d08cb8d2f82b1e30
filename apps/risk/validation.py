"""Validation of the JSON parts of risk settings (breaker tiers, volatility bands)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

BREAKER_ACTIONS = ("warn", "reduce_size", "halt", "flatten")


class RiskSettingsError(ValueError):
    """A risk setting is malformed; the message says which and why in one line."""


def _decimal(value: Any, where: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise RiskSettingsError(f"{where} must be a number, got {value!r}") from exc
    if not number.is_finite():
        raise RiskSettingsError(f"{where} must be a finite number, got {value!r}")
    return number


def validate_breaker_tiers(tiers: Any) -> list[dict[str, Any]]:
    """Return normalised tiers sorted by window, or raise ``RiskSettingsError``."""
    if not isinstance(tiers, list):
        raise RiskSettingsError("circuit-breaker tiers must be a JSON list of objects")
    out: list[dict[str, Any]] = []
    names: set[str] = set()
    for i, tier in enumerate(tiers, start=1):
        where = f"tier {i}"
        if not isinstance(tier, dict):
            raise RiskSettingsError(f"{where} must be an object")
        unknown = set(tier) - {"name", "window_minutes", "loss_limit", "action", "size_multiplier"}
        if unknown:
            raise RiskSettingsError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        name = str(tier.get("name") or f"tier-{i}")
        if name in names:
            raise RiskSettingsError(f"{where}: the name {name!r} is used twice")
        names.add(name)
        window = tier.get("window_minutes")
        if not isinstance(window, int) or isinstance(window, bool) or window <= 0:
            raise RiskSettingsError(f"{where}: window_minutes must be a positive integer")
        limit = _decimal(tier.get("loss_limit"), f"{where}: loss_limit")
        if limit <= 0:
            raise RiskSettingsError(f"{where}: loss_limit must be positive (a loss in USDT)")
        action = tier.get("action")
        if action not in BREAKER_ACTIONS:
            raise RiskSettingsError(
                f"{where}: action must be one of {', '.join(BREAKER_ACTIONS)}, got {action!r}"
            )
        item: dict[str, Any] = {
            "name": name,
            "window_minutes": window,
            "loss_limit": str(limit),
            "action": action,
        }
        if action == "reduce_size":
            mult = _decimal(tier.get("size_multiplier", "0.5"), f"{where}: size_multiplier")
            if not 0 < mult < 1:
                raise RiskSettingsError(f"{where}: size_multiplier must be between 0 and 1")
            item["size_multiplier"] = str(mult)
        out.append(item)
    return sorted(out, key=lambda t: t["window_minutes"])


def validate_volatility_bands(bands: Any) -> list[dict[str, str]]:
    """Bands are ``{"max_score": 0-100, "size_multiplier": 0-1}``, the last covering 100."""
    if not isinstance(bands, list) or not bands:
        raise RiskSettingsError("volatility bands must be a non-empty JSON list of objects")
    out: list[dict[str, str]] = []
    for i, band in enumerate(bands, start=1):
        where = f"band {i}"
        if not isinstance(band, dict) or set(band) != {"max_score", "size_multiplier"}:
            raise RiskSettingsError(f'{where} must be {{"max_score": .., "size_multiplier": ..}}')
        score = _decimal(band["max_score"], f"{where}: max_score")
        mult = _decimal(band["size_multiplier"], f"{where}: size_multiplier")
        if not 0 < score <= 100:
            raise RiskSettingsError(f"{where}: max_score must be in (0, 100]")
        if not 0 <= mult <= 1:
            raise RiskSettingsError(f"{where}: size_multiplier must be in [0, 1]")
        out.append({"max_score": str(score), "size_multiplier": str(mult)})
    out.sort(key=lambda b: Decimal(b["max_score"]))
    scores = [Decimal(b["max_score"]) for b in out]
    if len(set(scores)) != len(scores):
        raise RiskSettingsError("two volatility bands have the same max_score")
    if scores[-1] != 100:
        raise RiskSettingsError("the last volatility band must reach max_score 100")
    return out


DEFAULT_BREAKER_TIERS: list[dict[str, Any]] = [
    {"name": "fast", "window_minutes": 15, "loss_limit": "150", "action": "warn"},
    {
        "name": "hourly",
        "window_minutes": 60,
        "loss_limit": "300",
        "action": "reduce_size",
        "size_multiplier": "0.5",
    },
    {"name": "session", "window_minutes": 240, "loss_limit": "500", "action": "halt"},
    {"name": "day", "window_minutes": 1440, "loss_limit": "800", "action": "flatten"},
]

DEFAULT_VOLATILITY_BANDS: list[dict[str, str]] = [
    {"max_score": "40", "size_multiplier": "1"},
    {"max_score": "60", "size_multiplier": "0.75"},
    {"max_score": "80", "size_multiplier": "0.5"},
    {"max_score": "100", "size_multiplier": "0.25"},
]
