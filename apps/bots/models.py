from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from apps.exchange.models import ExchangeAccount, Instrument
from apps.strategies.models import Strategy


class Bot(models.Model):
    """One trading bot: an account, a strategy, the symbols it trades and how."""

    class MarginType(models.TextChoices):
        ISOLATED = "ISOLATED", "Isolated"
        CROSSED = "CROSSED", "Cross"

    class PositionMode(models.TextChoices):
        ONE_WAY = "ONE_WAY", "One-way"
        HEDGE = "HEDGE", "Hedge (long and short at once)"

    class TradingMode(models.TextChoices):
        PAPER = "paper", "Paper (simulated fills)"
        LIVE = "live", "Live (orders on the account's exchange)"

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        HALTED = "halted", "Halted"

    name = models.SlugField(max_length=64, unique=True)
    account = models.ForeignKey(ExchangeAccount, on_delete=models.PROTECT, related_name="bots")
    strategy = models.ForeignKey(Strategy, on_delete=models.PROTECT, related_name="bots")
    symbols = models.JSONField(
        default=list, help_text='Symbols the bot trades, e.g. ["BTCUSDT", "ETHUSDT"].'
    )
    leverage = models.PositiveSmallIntegerField(default=3)
    margin_type = models.CharField(
        max_length=8, choices=MarginType.choices, default=MarginType.ISOLATED
    )
    position_mode = models.CharField(
        max_length=8, choices=PositionMode.choices, default=PositionMode.ONE_WAY
    )
    trading_mode = models.CharField(
        max_length=8, choices=TradingMode.choices, default=TradingMode.PAPER
    )
    enabled = models.BooleanField(default=True, help_text="Disabled bots are never scheduled.")
    state = models.CharField(max_length=8, choices=State.choices, default=State.PAUSED)
    state_reason = models.CharField(max_length=255, blank=True, default="")
    state_changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

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
