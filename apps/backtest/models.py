from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models

from apps.exchange.domain.fees import DEFAULT_FEES, DEFAULT_TAKER_FEE


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
    fee = models.DecimalField(max_digits=8, decimal_places=6, default=DEFAULT_TAKER_FEE)
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
        permissions = [("start_backtest", "Can start a backtest")]

    def __str__(self) -> str:
        return f"backtest {self.pk} {self.strategy} ({self.status})"


class OptimizationRun(models.Model):
    """A walk-forward parameter search: what was asked, on which data, and what came out.

    Immutable once created except for ``status`` and the results: workers rebuild the search from
    these fields, and a resumed run replays the same seeded search (see ``optimisation.runs``).
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
    fee = models.DecimalField(max_digits=8, decimal_places=6, default=DEFAULT_FEES.taker)
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


class Reoptimization(models.Model):
    """A bot's scheduled re-optimisation of its rule strategy's parameters (the bot's admin page).

    Every ``every_days`` the parameters are searched on the first 80 % of the last
    ``window_days`` of the bot's symbols (the optimiser, ``trials`` trials), and the winner and
    the bot's current parameters are scored on the last 20 %; the winner replaces them (a new
    strategy row the bot switches to, so other bots on the old one are untouched) only when its
    score is higher by ``promote_margin``: at once with ``auto_promote``, else after approval.
    """

    bot = models.OneToOneField("bots.Bot", on_delete=models.CASCADE, related_name="reoptimization")
    every_days = models.PositiveSmallIntegerField(
        default=0, help_text="Re-optimise every N days (0: never)."
    )
    window_days = models.PositiveSmallIntegerField(
        default=120, help_text="Days of recent candles searched (the last 20% judge the result)."
    )
    trials = models.PositiveSmallIntegerField(default=40, help_text="Parameter sets tried.")
    objective = models.CharField(max_length=24, default="sharpe")
    promote_margin = models.DecimalField(
        max_digits=6,
        decimal_places=3,
        default=Decimal("0.1"),
        help_text="The winner replaces the bot's parameters only if its held-out score is "
        "higher by this much.",
    )
    auto_promote = models.BooleanField(
        default=False, help_text="Switch to better parameters without approval in the admin."
    )

    class Meta:
        verbose_name = verbose_name_plural = "Parameter re-optimisation"

    def __str__(self) -> str:
        return f"re-optimisation of {self.bot}: every {self.every_days} d"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from apps.backtest.optimisation.optimizer import OBJECTIVES, OptimizerError, check_strategy

        errors = {}
        if self.objective not in OBJECTIVES:
            errors["objective"] = f"One of {', '.join(sorted(OBJECTIVES))}."
        if self.every_days and self.bot_id:
            try:
                check_strategy(self.bot.strategy.kind)
            except OptimizerError as exc:
                errors["every_days"] = str(exc)
        if self.window_days < 10:
            errors["window_days"] = "At least 10 days."
        if errors:
            raise ValidationError(errors)


class ReoptimizationRun(models.Model):
    """One re-optimisation of a bot's parameters and what was decided (one action rolls a
    promotion back)."""

    class Decision(models.TextChoices):
        PROMOTED = "promoted", "Promoted (better by the margin)"
        AWAITING = "awaiting", "Better by the margin: awaiting approval in the admin"
        KEPT = "kept", "Kept the bot's parameters"
        FAILED = "failed", "Failed"

    bot = models.ForeignKey("bots.Bot", on_delete=models.CASCADE, related_name="reoptimizations")
    active_strategy = models.ForeignKey(
        "strategies.Strategy", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    active_params = models.JSONField(default=dict)
    candidate_params = models.JSONField(default=dict, blank=True)
    active_score = models.FloatField(null=True, blank=True, help_text="Held-out objective.")
    candidate_score = models.FloatField(null=True, blank=True, help_text="Held-out objective.")
    in_sample_score = models.FloatField(null=True, blank=True)
    margin = models.FloatField(default=0.0)
    decision = models.CharField(max_length=10, choices=Decision.choices)
    new_strategy = models.ForeignKey(
        "strategies.Strategy", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_by = models.CharField(max_length=64, blank=True, default="")
    rolled_back = models.BooleanField(default=False)
    detail = models.TextField(blank=True, default="")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]
        permissions = [
            ("approve_reoptimization", "Can approve or roll back a bot's re-optimised parameters")
        ]

    def __str__(self) -> str:
        return f"{self.bot} parameters: {self.decision}"
