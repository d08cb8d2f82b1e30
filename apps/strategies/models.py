from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from apps.strategies.domain.params import SCHEMAS, ParameterError, validate_parameters


class TradingMode(models.TextChoices):
    SCALP = "SCALP", "Scalp (short timeframe)"
    SWING = "SWING", "Swing (longer timeframe)"


class Strategy(models.Model):
    """A configured strategy: its kind, trading mode, timeframe and validated parameters."""

    class Kind(models.TextChoices):
        EMA_CROSS = "ema_cross", SCHEMAS["ema_cross"].title
        BOLLINGER_SCALP = "bollinger_scalp", SCHEMAS["bollinger_scalp"].title
        TREND_SWING = "trend_swing", SCHEMAS["trend_swing"].title
        SIGNAL = "signal", SCHEMAS["signal"].title

    class Timeframe(models.TextChoices):
        M1 = "1m", "1 minute"
        M5 = "5m", "5 minutes"
        M15 = "15m", "15 minutes"
        H1 = "1h", "1 hour"
        H4 = "4h", "4 hours"
        D1 = "1d", "1 day"

    name = models.SlugField(max_length=64, unique=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    mode = models.CharField(max_length=8, choices=TradingMode.choices, default=TradingMode.SWING)
    timeframe = models.CharField(max_length=4, choices=Timeframe.choices, default=Timeframe.H1)
    parameters = models.JSONField(
        default=dict,
        blank=True,
        help_text="JSON object; missing parameters take the kind's defaults.",
    )
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "strategies"

    def __str__(self) -> str:
        return f"{self.name} ({self.kind}, {self.mode})"

    def clean(self) -> None:
        try:
            self.parameters = validate_parameters(self.kind, self.parameters)
        except ParameterError as exc:
            raise ValidationError({"parameters": str(exc)}) from exc

    def resolved_parameters(self) -> dict[str, Any]:
        return validate_parameters(self.kind, self.parameters)
