"""The model registry and the AI's decisions.

``ModelArtifact``: one trained model (its file under ``AI_MODELS_DIR``, loaded only when its
sha256 matches), with everything needed to judge and reproduce it. ``AiDecision``: what the AI
said in one cycle of a bot and whether it was used. ``ModelPromotion``: every change of a bot's
active model (by a person or the re-training schedule), so one action rolls it back.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models

from apps.bots.models import Bot


class ModelArtifact(models.Model):
    class Kind(models.TextChoices):
        PPO = "ppo", "PPO agent"
        A2C = "a2c", "A2C agent"
        LSTM = "lstm", "LSTM predictor"
        ENSEMBLE = "ensemble", "Ensemble"

    class Status(models.TextChoices):
        TRAINING = "training", "Training"
        CANDIDATE = "candidate", "Candidate"
        ACTIVE = "active", "Active (used by a bot)"
        RETIRED = "retired", "Retired"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=100, blank=True, default="")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.TRAINING)
    hyperparameters = models.JSONField(default=dict, blank=True)
    feature_spec = models.JSONField(default=dict, blank=True)
    normalizer = models.JSONField(default=dict, blank=True, help_text="Training-window stats.")
    members = models.ManyToManyField(
        "self", symmetrical=False, blank=True, related_name="ensembles"
    )
    symbols = models.JSONField(default=list, blank=True)
    interval = models.CharField(max_length=8, blank=True, default="")
    data_files = models.JSONField(default=list, blank=True)
    train_start = models.DateTimeField(null=True, blank=True)
    train_end = models.DateTimeField(null=True, blank=True)
    seed = models.IntegerField(default=0)
    timesteps = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(
        default=dict,
        blank=True,
        help_text="in_sample / validation / out_of_sample figures (Sharpe, return, trades, ...)",
    )
    code_version = models.CharField(max_length=64, blank=True, default="")
    file = models.CharField(
        max_length=255, blank=True, default="", help_text="Under AI_MODELS_DIR."
    )
    sha256 = models.CharField(max_length=64, blank=True, default="")
    size_bytes = models.PositiveIntegerField(default=0)
    progress = models.FloatField(default=0.0, help_text="Training progress, 0 to 1.")
    error = models.TextField(blank=True, default="")
    train_seconds = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("train_model", "Can start a model training"),
            ("promote_model", "Can activate, approve, retire and roll back models"),
        ]

    def __str__(self) -> str:
        label = self.name or f"{self.kind} #{self.pk}"
        return f"{label} ({self.status})"


class AiDecision(models.Model):
    """The AI's opinion in one cycle of a bot, and what became of it.

    ``used`` is the seed's "AI utilisation": the AI's output decided the cycle (a confident
    driver action, a confident filter verdict); an opinion under the minimum confidence, or a
    filter asked about nothing, was not used.
    """

    class Outcome(models.TextChoices):
        DECIDED = "decided", "Decided (driver)"
        HELD = "held", "Not confident: nothing changed (driver)"
        CONFIRMED = "confirmed", "Confirmed an entry (filter)"
        VETOED = "vetoed", "Vetoed an entry (filter)"

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="ai_decisions")
    symbol = models.CharField(max_length=32)
    candle_open_time = models.BigIntegerField()
    role = models.CharField(max_length=8)
    mode = models.CharField(max_length=12)
    action = models.CharField(max_length=5, help_text="FLAT, LONG or SHORT")
    confidence = models.FloatField()
    latency_ms = models.FloatField(help_text="Features and inference, milliseconds.")
    used = models.BooleanField()
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    at = models.DateTimeField(help_text="Market time of the decision (the candle's close).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["bot", "at"])]

    def __str__(self) -> str:
        return f"{self.bot} {self.symbol} {self.action} {self.confidence:.2f} ({self.outcome})"


class ModelPromotion(models.Model):
    """One change of a bot's active model: who or what decided it, and on which figures."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="model_promotions")
    slot = models.CharField(max_length=10, help_text="agent, predictor or ensemble")
    previous = models.ForeignKey(
        ModelArtifact, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    new = models.ForeignKey(ModelArtifact, on_delete=models.PROTECT, related_name="+")
    decided_by = models.CharField(max_length=64, help_text="a user, or 'schedule'")
    reason = models.TextField(blank=True, default="")
    at = models.DateTimeField(auto_now_add=True)
    rolled_back = models.BooleanField(default=False)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.bot}: {self.slot} {self.previous_id} -> {self.new_id} ({self.decided_by})"


class BotAi(models.Model):
    """How a bot uses the AI (chosen in the bot's admin page).

    ``role`` filter: the bot's rule strategy decides, the AI vetoes entries it does not confirm;
    driver: the bot's strategy is of kind ``ai`` and trades the AI's actions. ``mode`` picks
    HybridAI's models; under ``min_confidence`` the AI's output is not used.
    """

    class Role(models.TextChoices):
        NONE = "none", "None"
        FILTER = "filter", "Filter (vetoes entries of the rule strategy)"
        DRIVER = "driver", "Driver (strategy kind ai: trades the AI's actions)"

    class Mode(models.TextChoices):
        OFF = "off", "Off"
        PPO_ONLY = "ppo_only", "Agent only (PPO / A2C)"
        LSTM_ONLY = "lstm_only", "LSTM only"
        HYBRID = "hybrid", "Hybrid (agent + LSTM, weighted)"
        ENSEMBLE = "ensemble", "Ensemble"

    bot = models.OneToOneField(Bot, on_delete=models.CASCADE, related_name="ai")
    role = models.CharField(max_length=8, choices=Role.choices, default=Role.NONE)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.PPO_ONLY)
    min_confidence = models.DecimalField(
        max_digits=4, decimal_places=3, default=Decimal("0.5"), help_text="0 to 1."
    )
    weight = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.5"),
        help_text="The agent's share in hybrid mode.",
    )
    agent = models.ForeignKey(
        ModelArtifact,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="bots_as_agent",
        limit_choices_to={"kind__in": ["ppo", "a2c"]},
    )
    predictor = models.ForeignKey(
        ModelArtifact,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="bots_as_predictor",
        limit_choices_to={"kind": "lstm"},
    )
    ensemble = models.ForeignKey(
        ModelArtifact,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="bots_as_ensemble",
        limit_choices_to={"kind": "ensemble"},
    )
    retrain_every_days = models.PositiveSmallIntegerField(
        default=0, help_text="Re-train the active models on recent data every N days (0: never)."
    )
    retrain_window_days = models.PositiveSmallIntegerField(
        default=120, help_text="Days of recent candles a re-training uses (the last 20% judge it)."
    )
    promote_margin = models.DecimalField(
        max_digits=6,
        decimal_places=3,
        default=Decimal("0.1"),
        help_text="A candidate replaces the active model only if its out-of-sample Sharpe is "
        "higher by this much.",
    )
    auto_promote = models.BooleanField(
        default=False, help_text="Promote a better candidate without approval in the admin."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "AI settings"
        verbose_name_plural = "AI settings"

    def __str__(self) -> str:
        return f"AI of {self.bot}: {self.role}, {self.mode}"

    NEEDS = {"ppo_only": ("agent",), "lstm_only": ("predictor",),
             "hybrid": ("agent", "predictor"), "ensemble": ("ensemble",), "off": ()}  # fmt: skip

    def clean(self) -> None:
        """Settings a bot cannot trade with are refused when saved, not found by a cycle."""
        errors: dict[str, str] = {}
        for name in ("min_confidence", "weight"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1:
                errors[name] = "Between 0 and 1."
        kind = self.bot.strategy.kind if self.bot_id else ""
        if self.role == self.Role.DRIVER and kind != "ai":
            errors["role"] = (
                f"The driver role trades the AI's actions: the bot's strategy must be of kind "
                f"'ai' (it is '{kind}'). Use the filter role with a rule strategy."
            )
        if self.role == self.Role.FILTER and kind == "ai":
            errors["role"] = "A bot of strategy kind 'ai' uses the driver role."
        if self.role != self.Role.NONE:
            for slot in self.NEEDS.get(self.mode, ()):
                if getattr(self, f"{slot}_id") is None:
                    errors[slot] = f"Mode {self.get_mode_display()} needs this model."
        if errors:
            raise ValidationError(errors)


class RetrainRun(models.Model):
    """One scheduled re-training of a bot's model and what was decided."""

    class Decision(models.TextChoices):
        PROMOTED = "promoted", "Promoted (better by the margin; the bot allows it)"
        AWAITING = "awaiting", "Better by the margin: awaiting approval in the admin"
        KEPT = "kept", "Kept the active model (the candidate was not better enough)"
        FAILED = "failed", "Failed"

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="retrain_runs")
    slot = models.CharField(max_length=10)
    active = models.ForeignKey(
        ModelArtifact, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    candidate = models.ForeignKey(
        ModelArtifact, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    active_score = models.FloatField(null=True, blank=True, help_text="Out-of-sample Sharpe.")
    candidate_score = models.FloatField(null=True, blank=True, help_text="Out-of-sample Sharpe.")
    margin = models.FloatField(default=0.0)
    decision = models.CharField(max_length=10, choices=Decision.choices)
    detail = models.TextField(blank=True, default="")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.bot} {self.slot}: {self.decision}"
