from __future__ import annotations

from decimal import Decimal

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
    execution = models.JSONField(
        default=dict,
        blank=True,
        help_text="slippage (none|book), leverage, maintenance_margin, maker_fee, intrabar.",
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    code_version = models.CharField(max_length=40, blank=True, default="")
    first_open_time = models.BigIntegerField(null=True, blank=True)
    last_open_time = models.BigIntegerField(null=True, blank=True)
    trade_count = models.PositiveIntegerField(default=0)
    total_pnl = models.DecimalField(max_digits=24, decimal_places=8, null=True, blank=True)
    engine_seconds = models.FloatField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True, help_text="Per symbol.")
    summary = models.JSONField(
        default=dict,
        blank=True,
        help_text="The whole run: per side and per mode, funding, average slippage, execution.",
    )
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


class OptimizationRun(models.Model):
    """A walk-forward parameter search: what was asked, on which data, and what came out.

    Immutable once created except for ``status`` and the results: workers rebuild the search from
    these fields, and a resumed run replays the same seeded search (see ``optimizer_runs``).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Sampler(models.TextChoices):
        TPE = "tpe", "TPE (optuna)"
        GRID = "grid", "Grid"

    strategy = models.CharField(max_length=32, default="ema_cross")
    space = models.JSONField(default=dict, help_text="Search space: name -> list or {low, high}.")
    objective = models.CharField(max_length=24, default="sharpe")
    sampler = models.CharField(max_length=8, choices=Sampler.choices, default=Sampler.TPE)
    seed = models.PositiveBigIntegerField(default=0)
    n_trials = models.PositiveIntegerField(default=50, help_text="Trials per window.")
    batch_size = models.PositiveIntegerField(
        default=8, help_text="TPE trials asked per round (results depend on it, not on workers)."
    )
    data_files = models.JSONField(
        default=list, help_text="Kline files (absolute paths), one symbol each, one interval."
    )
    symbols = models.JSONField(default=list, blank=True)
    interval = models.CharField(max_length=8, blank=True, default="")
    start_ms = models.BigIntegerField(null=True, blank=True)
    end_ms = models.BigIntegerField(null=True, blank=True)
    data_fingerprint = models.JSONField(
        default=dict,
        blank=True,
        help_text="Per data file: candles used, first and last open time and close; checked by "
        "workers and resumes.",
    )
    train_candles = models.PositiveIntegerField()
    test_candles = models.PositiveIntegerField()
    step_candles = models.PositiveIntegerField()
    warmup_candles = models.PositiveIntegerField(default=0)
    fee = models.DecimalField(max_digits=8, decimal_places=6, default=Decimal("0.0004"))
    stake = models.DecimalField(max_digits=20, decimal_places=8, default=Decimal("1000"))
    cash = models.DecimalField(max_digits=20, decimal_places=8, default=Decimal("10000"))
    distributed = models.BooleanField(default=False)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    code_version = models.CharField(max_length=40, blank=True, default="")
    best_params = models.JSONField(
        default=dict, blank=True, help_text="The winner of the last (most recent) window."
    )
    windows = models.JSONField(
        default=list,
        blank=True,
        help_text="Per window: dates, winner, in-sample vs out-of-sample objective and metrics.",
    )
    mean_in_sample = models.FloatField(null=True, blank=True)
    mean_out_of_sample = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"optimisation {self.pk} {self.strategy} {self.sampler} ({self.status})"


class OptimizationTrial(models.Model):
    """One parameter set of one walk-forward window, evaluated by whichever worker claimed it."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        COMPLETE = "complete", "Complete"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(OptimizationRun, on_delete=models.CASCADE, related_name="trials")
    window = models.PositiveIntegerField(help_text="Walk-forward window index (from 0).")
    number = models.PositiveIntegerField(help_text="Trial number within the window (from 0).")
    params = models.JSONField(default=dict)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    value = models.FloatField(null=True, blank=True, help_text="In-sample objective.")
    in_sample_metrics = models.JSONField(default=dict, blank=True)
    out_of_sample_value = models.FloatField(null=True, blank=True)
    out_of_sample_metrics = models.JSONField(default=dict, blank=True)
    worker = models.CharField(max_length=255, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "window", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "window", "number"], name="optimization_trial_unique_number"
            )
        ]
        indexes = [models.Index(fields=["run", "state"], name="optimization_trial_run_state")]

    def __str__(self) -> str:
        return f"run {self.run_id} window {self.window} trial {self.number} ({self.state})"
