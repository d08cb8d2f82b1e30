"""Performance reports, alert rules, alerts and the channels that deliver them."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.bots.models import Bot
from apps.core.fields import EncryptedTextField
from apps.monitoring.domain.performance import BreachKind, Severity, Thresholds
from apps.strategies.models import TradingMode

MONEY = {"max_digits": 28, "decimal_places": 12}
RATIO = {"max_digits": 32, "decimal_places": 8}


class SeverityLevel(models.TextChoices):
    INFO = Severity.INFO, "Info"
    WARNING = Severity.WARNING, "Warning"
    CRITICAL = Severity.CRITICAL, "Critical"


class PerformanceReport(models.Model):
    """The figures of one scope (a bot or all bots, a mode or all modes) over one window."""

    class Window(models.TextChoices):
        ALL = "all", "All closed trades up to the review"
        PERIOD = "period", "Trades closed in the last period"

    bot = models.ForeignKey(
        Bot,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="performance_reports",
        help_text="Empty: all bots.",
    )
    mode = models.CharField(
        max_length=8, choices=TradingMode.choices, blank=True, default="", help_text="Empty: all."
    )
    window = models.CharField(max_length=6, choices=Window.choices)
    period_start = models.DateTimeField(
        null=True, blank=True, help_text="Exit times after this; empty: since the first trade."
    )
    period_end = models.DateTimeField(help_text="Exit times up to this (the review time).")
    trades = models.PositiveIntegerField(default=0)
    wins = models.PositiveIntegerField(default=0)
    losses = models.PositiveIntegerField(default=0)
    win_rate = models.DecimalField(
        max_digits=9, decimal_places=8, null=True, blank=True, help_text="Fraction 0-1."
    )
    gross_profit = models.DecimalField(**MONEY, default=Decimal(0))
    gross_loss = models.DecimalField(**MONEY, default=Decimal(0))
    avg_win = models.DecimalField(**MONEY, null=True, blank=True)
    avg_loss = models.DecimalField(**MONEY, null=True, blank=True)
    profit_loss_ratio = models.DecimalField(
        **RATIO,
        null=True,
        blank=True,
        help_text="Profit/loss ratio: average win / |average loss|; empty: no loss.",
    )
    profit_factor = models.DecimalField(
        **RATIO, null=True, blank=True, help_text="Gross profit / |gross loss|; empty: no loss."
    )
    net_pnl = models.DecimalField(**MONEY, default=Decimal(0))
    expectancy = models.DecimalField(
        **MONEY, null=True, blank=True, help_text="Average net PnL per trade."
    )
    total_roi = models.DecimalField(**RATIO, default=Decimal(0), help_text="Sum of trade ROI %.")
    avg_roi = models.DecimalField(**RATIO, null=True, blank=True, help_text="Mean trade ROI %.")
    max_drawdown = models.DecimalField(**MONEY, default=Decimal(0))
    max_drawdown_pct = models.DecimalField(
        **RATIO, null=True, blank=True, help_text="% of the starting equity."
    )
    starting_equity = models.DecimalField(**MONEY, default=Decimal(0))
    max_consecutive_losses = models.PositiveIntegerField(default=0)
    current_losing_streak = models.PositiveIntegerField(default=0)
    avg_holding = models.DurationField(null=True, blank=True)
    ai_decisions = models.PositiveIntegerField(
        default=0, help_text="Cycles in which the AI was asked (AiDecision records)."
    )
    ai_utilisation = models.DecimalField(
        **RATIO,
        null=True,
        blank=True,
        help_text="The seed's AI utilisation: share (0-1) of those decisions in which the AI's "
        "output was used; empty: the AI was never asked.",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "bot_id", "mode", "window"]
        indexes = [models.Index(fields=["bot", "mode", "window", "created_at"])]

    def __str__(self) -> str:
        who = self.bot.name if self.bot_id else "all bots"
        return f"{who} {self.mode or 'all modes'} {self.window} @ {self.period_end:%Y-%m-%d %H:%M}"


class AlertRule(models.Model):
    """Thresholds of the review. The rule without a bot is the default; a bot's rule replaces
    it entirely for that bot. An empty threshold switches that check off."""

    bot = models.OneToOneField(
        Bot,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="alert_rule",
        help_text="Empty: the default rule for every bot without its own.",
    )
    enabled = models.BooleanField(default=True)
    min_win_rate = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        null=True,
        blank=True,
        default=Decimal("0.40"),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(1))],
        help_text="Fraction 0-1 (0.40 = 40 %).",
    )
    min_profit_factor = models.DecimalField(
        max_digits=8,
        decimal_places=3,
        null=True,
        blank=True,
        default=Decimal("1.0"),
        validators=[MinValueValidator(Decimal(0))],
        help_text="Gross profit / |gross loss|.",
    )
    max_drawdown_pct = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        default=Decimal("10"),
        validators=[MinValueValidator(Decimal(0))],
        help_text="Largest fall of cumulative net PnL from its peak, in % of starting equity.",
    )
    max_consecutive_losses = models.PositiveSmallIntegerField(
        null=True, blank=True, default=5, help_text="Alert when the current losing run is longer."
    )
    min_trades = models.PositiveIntegerField(
        default=10, help_text="Win rate and profit factor are judged from this many trades on."
    )
    cooldown_hours = models.PositiveIntegerField(
        default=24,
        validators=[MinValueValidator(1)],
        help_text="The same breach of the same bot is not alerted again within this time.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["bot__name"]
        constraints = [
            models.UniqueConstraint(
                Coalesce("bot", 0),
                name="alertrule_one_per_bot_and_one_default",
                violation_error_message="A rule for this bot (or a default rule) already exists.",
            ),
        ]

    def __str__(self) -> str:
        return f"alert rule for {self.bot.name}" if self.bot_id else "default alert rule"

    def thresholds(self) -> Thresholds:
        return Thresholds(
            min_win_rate=self.min_win_rate,
            min_profit_factor=self.min_profit_factor,
            max_drawdown_pct=self.max_drawdown_pct,
            max_consecutive_losses=self.max_consecutive_losses,
            min_trades=self.min_trades,
        )


class Alert(models.Model):
    class Kind(models.TextChoices):
        WIN_RATE = BreachKind.WIN_RATE, "Win rate below minimum"
        PROFIT_FACTOR = BreachKind.PROFIT_FACTOR, "Profit factor below minimum"
        DRAWDOWN = BreachKind.DRAWDOWN, "Drawdown above maximum"
        LOSING_STREAK = BreachKind.LOSING_STREAK, "Losing streak"
        TEST = "test", "Test notification"

    severity = models.CharField(max_length=8, choices=SeverityLevel.choices)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    bot = models.ForeignKey(
        Bot, on_delete=models.SET_NULL, null=True, blank=True, related_name="alerts"
    )
    mode = models.CharField(max_length=8, choices=TradingMode.choices, blank=True, default="")
    message = models.CharField(max_length=500)
    data = models.JSONField(default=dict, blank=True)
    dedup_key = models.CharField(
        max_length=128, help_text="kind:bot:mode; repeats within the cool-down are suppressed."
    )
    report = models.ForeignKey(
        PerformanceReport, on_delete=models.SET_NULL, null=True, blank=True, related_name="alerts"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["dedup_key", "created_at"])]

    def __str__(self) -> str:
        return f"[{self.severity}] {self.message}"


class NotificationEvent(models.TextChoices):
    """What a channel can be told about (its ``events``)."""

    ALERT = "alert", "Performance alerts (the review's thresholds)"
    TRADE_OPENED = "trade_opened", "Trade opened"
    TRADE_CLOSED = "trade_closed", "Trade closed (with PnL)"
    BREAKER = "breaker", "Circuit breaker tier changes"
    KILL_SWITCH = "kill_switch", "Kill switch engaged"
    HALT = "halt", "Bot halted or paused by the platform (errors)"
    RECONCILIATION = "reconciliation", "Reconciliation problems (records and venue disagree)"
    STOP_REJECTED = "stop_rejected", "Stop-loss the reconciliation re-placed rejected by the venue"
    ENDED_TRADE_FILL = "ended_trade_fill", "Exit order of an ended trade filled (not booked)"
    OPERATOR = "operator", "Bot paused or resumed by an operator"
    DAILY_SUMMARY = "daily_summary", "Daily summary (UTC day)"


def default_notification_events() -> list[str]:
    """Everything but the per-trade and operator messages (those are opted into)."""
    chatty = {
        NotificationEvent.TRADE_OPENED,
        NotificationEvent.TRADE_CLOSED,
        NotificationEvent.OPERATOR,
    }
    return [str(event) for event in NotificationEvent if event not in chatty]


class NotificationChannel(models.Model):
    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook (HTTP POST of JSON)"
        TELEGRAM = "telegram", "Telegram (the platform's Telegram bot)"

    name = models.SlugField(max_length=64, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    enabled = models.BooleanField(default=True)
    min_severity = models.CharField(
        max_length=8,
        choices=SeverityLevel.choices,
        default=SeverityLevel.WARNING,
        help_text="Performance alerts below this severity are not sent here (the other events "
        "are chosen below).",
    )
    events = models.JSONField(
        default=default_notification_events,
        blank=True,
        help_text="What this channel is told about (see NotificationEvent).",
    )
    email_recipients = models.TextField(
        blank=True, default="", help_text="Email: addresses separated by commas or new lines."
    )
    webhook_url = models.URLField(blank=True, default="", help_text="Webhook: http(s) URL.")
    webhook_secret = EncryptedTextField(
        blank=True,
        default="",
        help_text="Webhook: optional; signs the body (HMAC-SHA256, header X-Signature).",
    )
    telegram_chat_ids = models.TextField(
        blank=True,
        default="",
        help_text="Telegram: chat ids to send to (numbers; groups are negative), separated by "
        "commas or new lines. The bot token is the Telegram bot's (admin: Telegram bot).",
    )
    timeout_seconds = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(60)]
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def __repr__(self) -> str:  # never show the secret
        return f"<NotificationChannel {self.name} {self.kind}>"

    @property
    def recipients(self) -> list[str]:
        raw = self.email_recipients.replace("\n", ",").replace(";", ",")
        return [part.strip() for part in raw.split(",") if part.strip()]

    @property
    def chat_ids(self) -> list[int]:
        """The Telegram chat ids; raise ValueError naming the first one that is not a number."""
        return parse_chat_ids(self.telegram_chat_ids)

    def wants(self, event: str) -> bool:
        return event in (self.events or [])

    def accepts(self, severity: str) -> bool:
        """Whether a performance alert of `severity` goes here."""
        return self.wants(NotificationEvent.ALERT) and (
            Severity.rank(severity) >= Severity.rank(self.min_severity)
        )

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.kind == self.Kind.EMAIL:
            if not self.recipients:
                errors["email_recipients"] = "an email channel needs at least one recipient"
            elif bad := [r for r in self.recipients if "@" not in r]:
                errors["email_recipients"] = f"not an email address: {', '.join(bad)}"
        if self.kind == self.Kind.TELEGRAM:
            try:
                if not self.chat_ids:
                    errors["telegram_chat_ids"] = "a Telegram channel needs at least one chat id"
            except ValueError as exc:
                errors["telegram_chat_ids"] = str(exc)
        if unknown := sorted(set(self.events or []) - set(NotificationEvent.values)):
            errors["events"] = f"unknown event(s): {', '.join(unknown)}"
        if self.kind == self.Kind.WEBHOOK:
            if not self.webhook_url:
                errors["webhook_url"] = "a webhook channel needs a URL"
            elif urlsplit(self.webhook_url).scheme not in ("http", "https"):
                errors["webhook_url"] = "the webhook URL must be http or https"
        if errors:
            raise ValidationError(errors)


def parse_chat_ids(text: str) -> list[int]:
    """Chat ids from text separated by commas, semicolons, spaces or new lines; raise
    ValueError naming the first one that is not a whole number."""
    out: list[int] = []
    for part in text.replace(",", " ").replace(";", " ").split():
        try:
            out.append(int(part))
        except ValueError:
            raise ValueError(f"not a Telegram chat id (a whole number): {part[:40]}") from None
    return out


class AlertDelivery(models.Model):
    """What became of one alert on one channel."""

    class Status(models.TextChoices):
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(
        NotificationChannel, on_delete=models.SET_NULL, null=True, related_name="deliveries"
    )
    channel_name = models.CharField(max_length=64)
    status = models.CharField(max_length=6, choices=Status.choices)
    attempts = models.PositiveSmallIntegerField(default=1)
    error = models.CharField(max_length=500, blank=True, default="")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["alert", "channel_name"]
        verbose_name_plural = "alert deliveries"

    def __str__(self) -> str:
        return f"{self.channel_name}: {self.status}"
