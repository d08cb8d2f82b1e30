"""A/B experiments: paper variants of a bot run side by side, compared, the winner promoted."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.ai.models import BotAi
from apps.backtest.models import BacktestRun
from apps.bots.models import Bot
from apps.exchange.models import ExchangeAccount
from apps.strategies.models import Strategy


class Experiment(models.Model):
    """Two or more paper variants on the same symbols, each with its own capital, started and
    stopped together so that their periods coincide."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft (variants can change)"
        RUNNING = "running", "Running"
        STOPPED = "stopped", "Stopped"

    name = models.SlugField(max_length=40, unique=True)
    description = models.TextField(blank=True, default="")
    base_bot = models.ForeignKey(
        Bot,
        on_delete=models.PROTECT,
        related_name="experiments_based_on",
        help_text="Each variant is a paper copy of this bot with the variant's changes.",
    )
    symbols = models.JSONField(
        default=list,
        blank=True,
        help_text="The symbols every variant trades (the same market stream); empty: the base "
        "bot's.",
    )
    capital = models.DecimalField(
        max_digits=20,
        decimal_places=8,
        default=Decimal("10000"),
        validators=[MinValueValidator(Decimal("1"))],
        help_text="Paper capital of each variant (USDT); every variant starts with this much.",
    )
    confidence = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.95"),
        validators=[MinValueValidator(Decimal("0.8")), MaxValueValidator(Decimal("0.999"))],
        help_text="Confidence of the verdict (0.95: a difference is called at 5 % error).",
    )
    resamples = models.PositiveIntegerField(
        default=2000,
        validators=[MinValueValidator(100), MaxValueValidator(20000)],
        help_text="Permutations and bootstrap resamples of the daily returns.",
    )
    seed = models.PositiveIntegerField(default=0, help_text="Seed of the resampling.")
    account = models.ForeignKey(
        ExchangeAccount,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        help_text="The experiment's paper account (its starting balance is the capital).",
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    stopped_at = models.DateTimeField(null=True, blank=True, editable=False)
    started_by = models.CharField(max_length=150, blank=True, default="", editable=False)
    stopped_by = models.CharField(max_length=150, blank=True, default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("run_experiment", "Can start and stop experiments"),
            ("promote_variant", "Can promote an experiment's variant to a live bot"),
        ]

    def __str__(self) -> str:
        return self.name

    def trading_symbols(self) -> list[str]:
        return list(self.symbols or self.base_bot.symbols)


class Variant(models.Model):
    """One arm of an experiment: a paper bot copied from the base bot with these changes."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="variants")
    label = models.SlugField(
        max_length=8, help_text="A, B, ...; the first label (alphabetically) is the control."
    )
    strategy = models.ForeignKey(
        Strategy,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Another strategy for this variant; empty: the base bot's.",
    )
    parameters = models.JSONField(
        default=dict,
        blank=True,
        help_text='Parameter changes over the strategy\'s, e.g. {"fast": 12}; empty: none.',
    )
    ai_mode = models.CharField(
        max_length=10,
        choices=BotAi.Mode.choices,
        blank=True,
        default="",
        help_text="The AI mode for this variant (the base bot's AI role and models); empty: "
        "the base bot's.",
    )
    risk = models.JSONField(
        default=dict,
        blank=True,
        help_text='Risk-setting changes, e.g. {"risk_per_trade": "0.02", "max_open_positions": '
        "2}; empty: the base bot's.",
    )
    leverage = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Another leverage; empty: the base bot's."
    )
    bot = models.OneToOneField(
        Bot,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="experiment_variant",
        help_text="The variant's paper bot (made by the experiment).",
    )

    class Meta:
        ordering = ["experiment", "label"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "label"], name="variant_label_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.experiment}/{self.label}"


class Promotion(models.Model):
    """A variant's settings copied to a live bot: who did it, and what changed."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="promotions")
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="promotions")
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="experiment_promotions")
    strategy = models.ForeignKey(
        Strategy, on_delete=models.PROTECT, related_name="+", help_text="The bot's new strategy."
    )
    decided_by = models.CharField(max_length=150, help_text="The user who promoted it.")
    verdict = models.CharField(max_length=255, blank=True, default="")
    before = models.JSONField(default=dict, help_text="The bot's settings before.")
    after = models.JSONField(default=dict, help_text="The bot's settings after.")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.variant} -> {self.bot} by {self.decided_by}"


class BacktestComparison(models.Model):
    """Two backtest runs compared on the days both cover, with the experiments' test."""

    run_a = models.ForeignKey(BacktestRun, on_delete=models.CASCADE, related_name="+")
    run_b = models.ForeignKey(BacktestRun, on_delete=models.CASCADE, related_name="+")
    confidence = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.95"),
        validators=[MinValueValidator(Decimal("0.8")), MaxValueValidator(Decimal("0.999"))],
    )
    resamples = models.PositiveIntegerField(
        default=2000, validators=[MinValueValidator(100), MaxValueValidator(20000)]
    )
    seed = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"backtest {self.run_a_id} vs {self.run_b_id}"
