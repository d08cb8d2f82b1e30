from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from apps.exchange.models import ExchangeAccount, Instrument
from apps.execution.domain.partial_exit import TakeProfitLevel, validate_levels
from apps.strategies.models import Strategy


def _default_exit_levels() -> list[dict[str, str]]:
    return [{"distance": "0.02", "fraction": "0.5"}]


class Bot(models.Model):
    """One trading bot: an account, a strategy, the symbols it trades and how."""

    class MarginType(models.TextChoices):
        ISOLATED = "ISOLATED", "Isolated"
        CROSSED = "CROSSED", "Cross"

    class TradingMode(models.TextChoices):
        PAPER = "paper", "Paper (simulated fills)"
        LIVE = "live", "Live (orders on the account's exchange)"

    class Trailing(models.TextChoices):
        NONE = "none", "No trailing stop"
        MANAGED = "managed", "Managed: our stop-market, replaced place-first as price moves"
        NATIVE = "native", "Native: Binance's TRAILING_STOP_MARKET"

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        HALTED = "halted", "Halted"

    class Cause(models.TextChoices):
        """Why the bot is paused or halted: what code decides on (the reason is for people)."""

        NONE = "", "None"
        OPERATOR = "operator", "Operator"
        KILL_SWITCH = "kill_switch", "Kill switch"
        CRITICAL_ERROR = "critical_error", "Critical error (restarts by itself)"
        CIRCUIT_BREAKER = "circuit_breaker", "Circuit breaker"
        STRATEGY_ERROR = "strategy_error", "Strategy error"
        AI_MODEL = "ai_model", "AI model missing or damaged"
        RECONCILIATION = "reconciliation", "Database and venue disagree"
        REPLAY = "replay", "Replay copy"

    name = models.SlugField(max_length=64, unique=True)
    account = models.ForeignKey(ExchangeAccount, on_delete=models.PROTECT, related_name="bots")
    strategy = models.ForeignKey(Strategy, on_delete=models.PROTECT, related_name="bots")
    symbols = models.JSONField(
        default=list, help_text='Symbols the bot trades, e.g. ["BTCUSDT", "ETHUSDT"].'
    )
    leverage = models.PositiveSmallIntegerField(
        default=3,
        help_text="Set on the venue before each entry from flat; also caps the bot's exposure.",
    )
    margin_type = models.CharField(
        max_length=8,
        choices=MarginType.choices,
        default=MarginType.ISOLATED,
        help_text="Set on the venue, with the leverage, before each entry from flat (one-way "
        "position mode: the platform does not trade hedge mode).",
    )
    trading_mode = models.CharField(
        max_length=8, choices=TradingMode.choices, default=TradingMode.PAPER
    )
    exit_levels = models.JSONField(
        default=_default_exit_levels,
        blank=True,
        help_text='Partial take-profits: [{"distance": "0.02", "fraction": "0.5"}, ...]; distance '
        "and fraction of the entry price / position. Empty: no partial exits.",
    )
    break_even_after_first_exit = models.BooleanField(
        default=True, help_text="Move the stop to the entry price once the first level filled."
    )
    trailing = models.CharField(max_length=8, choices=Trailing.choices, default=Trailing.MANAGED)
    trailing_activation = models.DecimalField(
        max_digits=6,
        decimal_places=4,
        default=Decimal("0.015"),
        help_text="Profit (fraction of entry) at which the trailing stop starts to move.",
    )
    trailing_callback = models.DecimalField(
        max_digits=6,
        decimal_places=4,
        default=Decimal("0.015"),
        help_text="Distance (fraction) the trailing stop keeps behind the best price.",
    )
    webhook_secret_hash = models.CharField(
        max_length=128,
        blank=True,
        default="",
        help_text="The bot's own webhook passphrase, hashed (set it in the form or with "
        "`manage.py webhook_secret BOT`); WEBHOOK_SECRET is accepted for every bot.",
    )
    enabled = models.BooleanField(default=True, help_text="Disabled bots are never scheduled.")
    rehearsal = models.BooleanField(
        default=False,
        editable=False,
        help_text="A replay's paper copy: run by the replay only, never by the scheduler.",
    )
    state = models.CharField(max_length=8, choices=State.choices, default=State.PAUSED)
    state_reason = models.CharField(max_length=255, blank=True, default="")
    state_cause = models.CharField(
        max_length=16,
        choices=Cause.choices,
        blank=True,
        default=Cause.NONE,
        help_text="Why the bot is paused or halted (set with the state).",
    )
    state_changed_at = models.DateTimeField(null=True, blank=True)
    restart_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the scheduler resumes a bot halted by a critical error (automatic).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        # The operator's actions (docs/security.md); a BotGrant gives the first two for one bot.
        permissions = [
            ("pause_bot", "Can pause and resume a bot"),
            ("engage_killswitch", "Can fire the kill switch for a bot (emergency close)"),
            ("engage_killswitch_all", "Can fire the kill switch for every bot at once"),
        ]

    def __str__(self) -> str:
        return self.name

    def exit_take_profit_levels(self) -> tuple[TakeProfitLevel, ...]:
        """The partial take-profit levels, validated (raise ValueError naming the problem)."""
        if not self.exit_levels:
            return ()
        if not isinstance(self.exit_levels, list):
            raise ValueError('expected a list of {"distance", "fraction"} objects')
        return validate_levels(
            [
                TakeProfitLevel(Decimal(str(level["distance"])), Decimal(str(level["fraction"])))
                for level in self.exit_levels
            ]
        )

    def clean(self) -> None:
        errors: dict[str, str] = {}
        symbols = self.symbols
        if (
            not isinstance(symbols, list)
            or not symbols
            or not all(isinstance(s, str) for s in symbols)
        ):
            errors["symbols"] = 'symbols must be a non-empty JSON list of names, e.g. ["BTCUSDT"]'
        else:
            self.symbols = [s.strip().upper() for s in symbols]
            if len(set(self.symbols)) != len(self.symbols):
                errors["symbols"] = "a symbol is listed twice"
            else:
                known = dict(
                    Instrument.objects.filter(symbol__in=self.symbols).values_list(
                        "symbol", "max_leverage"
                    )
                )
                missing = [s for s in self.symbols if s not in known]
                if missing:
                    errors["symbols"] = (
                        f"unknown symbol(s): {', '.join(missing)} (refresh instruments first)"
                    )
                elif self.leverage:
                    too_high = [s for s in self.symbols if self.leverage > known[s]]
                    if too_high:
                        errors["leverage"] = (
                            f"leverage {self.leverage} exceeds the maximum of "
                            f"{', '.join(f'{s} ({known[s]})' for s in too_high)}"
                        )
        try:
            self.exit_take_profit_levels()
        except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
            errors["exit_levels"] = f"exit levels: {exc}"
        if self.trailing != self.Trailing.NONE and not (
            Decimal(0) < (self.trailing_callback or 0) < Decimal("0.1")
        ):
            errors["trailing_callback"] = "the trailing callback must be between 0 and 0.1"
        if not 1 <= (self.leverage or 0) <= 125:
            errors["leverage"] = "leverage must be between 1 and 125"
        if (
            self.trading_mode == self.TradingMode.LIVE
            and self.account_id
            and self.account.environment == ExchangeAccount.Environment.PAPER
        ):
            errors["trading_mode"] = "a live bot needs a testnet or live account, not a paper one"
        if errors:
            raise ValidationError(errors)


class BotGrant(models.Model):
    """A per-bot permission: ``user`` may do ``permission`` to ``bot`` only, without holding the
    model-wide permission (``apps.bots.access``; docs/security.md)."""

    class Permission(models.TextChoices):
        PAUSE = "pause_bot", "Pause and resume"
        KILLSWITCH = "engage_killswitch", "Kill switch (emergency close)"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bot_grants"
    )
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="grants")
    permission = models.CharField(max_length=32, choices=Permission.choices)
    granted_by = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["bot__name", "user__username", "permission"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "bot", "permission"], name="botgrant_one_per_user_bot_permission"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} may {self.get_permission_display().lower()} {self.bot}"
