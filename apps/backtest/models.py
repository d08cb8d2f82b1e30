from __future__ import annotations

from django.conf import settings
from django.db import models


class BacktestRun(models.Model):
    """One backtest: what was asked, on which data and code, and what came out."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    strategy = models.CharField(max_length=32, default="ema_cross")
    parameters = models.JSONField(default=dict)
    data_files = models.JSONField(default=list, help_text="Kline files, relative to the data dir.")
    symbols = models.JSONField(default=list, blank=True)
    start_ms = models.BigIntegerField(null=True, blank=True)
    end_ms = models.BigIntegerField(null=True, blank=True)
    fee = models.DecimalField(max_digits=8, decimal_places=6, default=0.0004)
    stake = models.DecimalField(max_digits=20, decimal_places=8, default=1000)
    cash = models.DecimalField(max_digits=20, decimal_places=8, default=10000)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    code_version = models.CharField(max_length=40, blank=True, default="")
    first_open_time = models.BigIntegerField(null=True, blank=True)
    last_open_time = models.BigIntegerField(null=True, blank=True)
    trade_count = models.PositiveIntegerField(default=0)
    total_pnl = models.DecimalField(max_digits=24, decimal_places=8, null=True, blank=True)
    engine_seconds = models.FloatField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True, help_text="Per symbol.")
    trades = models.JSONField(default=list, blank=True, help_text="One object per trade.")
    error = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"backtest {self.pk} {self.strategy} ({self.status})"
