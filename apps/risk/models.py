from __future__ import annotations

import copy
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.risk.validation import (
    DEFAULT_BREAKER_TIERS,
    DEFAULT_VOLATILITY_BANDS,
    RiskSettingsError,
    validate_breaker_tiers,
    validate_volatility_bands,
)


def _default_tiers() -> list[dict[str, str]]:
    return copy.deepcopy(DEFAULT_BREAKER_TIERS)


def _default_bands() -> list[dict[str, str]]:
    return copy.deepcopy(DEFAULT_VOLATILITY_BANDS)


class RiskSettings(models.Model):
    """Per-bot risk limits: circuit-breaker tiers, exposure, sizing, correlation, volatility."""

    bot = models.OneToOneField("bots.Bot", on_delete=models.CASCADE, related_name="risk")
    breaker_tiers = models.JSONField(
        default=_default_tiers,
        help_text='List of {"name", "window_minutes", "loss_limit" (USDT), "action": '
        'warn | reduce_size | halt | flatten, "size_multiplier" (reduce_size only)}.',
    )
    max_open_positions = models.PositiveSmallIntegerField(default=3)
    max_exposure = models.DecimalField(
        max_digits=20,
        decimal_places=8,
        default=Decimal("5000"),
        help_text="Largest total notional of open positions, in USDT.",
    )
    risk_per_trade = models.DecimalField(
        max_digits=6,
        decimal_places=5,
        default=Decimal("0.01"),
        validators=[MinValueValidator(Decimal("0.0001")), MaxValueValidator(Decimal("0.2"))],
        help_text="Share of equity lost if the stop is hit (0.01 = 1 %).",
    )
    daily_loss_limit = models.DecimalField(
        max_digits=20,
        decimal_places=8,
        default=Decimal("800"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Net loss (USDT) of the trades closed since 00:00 UTC after which new entries "
        "stop until the next UTC day; open positions keep their exits. 0: no limit.",
    )
    correlation_threshold = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.8"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
        help_text="Block an entry whose correlation with an open same-direction position is "
        "above this.",
    )
    correlation_lookback = models.PositiveIntegerField(
        default=100,
        validators=[MinValueValidator(21), MaxValueValidator(5000)],
        help_text="Candles used for the correlation matrix (at least 21: the gate needs 20 "
        "returns).",
    )
    volatility_bands = models.JSONField(
        default=_default_bands,
        help_text='List of {"max_score": 0-100, "size_multiplier": 0-1}; the last band must '
        "reach 100.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "risk settings"
        verbose_name_plural = "risk settings"

    def __str__(self) -> str:
        return f"risk settings of {self.bot}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        try:
            self.breaker_tiers = validate_breaker_tiers(self.breaker_tiers)
        except RiskSettingsError as exc:
            errors["breaker_tiers"] = str(exc)
        try:
            self.volatility_bands = validate_volatility_bands(self.volatility_bands)
        except RiskSettingsError as exc:
            errors["volatility_bands"] = str(exc)
        if errors:
            raise ValidationError(errors)


class BreakerState(models.Model):
    """The circuit breaker's recorded losses and latches of a bot, so they survive a restart."""

    bot = models.OneToOneField("bots.Bot", on_delete=models.CASCADE, related_name="breaker_state")
    state = models.JSONField(default=dict, help_text="CircuitBreaker.to_state() (engine-written).")
    last_action = models.CharField(max_length=16, blank=True, default="")
    last_reason = models.CharField(max_length=255, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"breaker of {self.bot}: {self.last_action or 'clear'}"
