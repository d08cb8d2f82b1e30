from __future__ import annotations

from django.db import models

from apps.core.fields import EncryptedTextField


class ExchangeAccount(models.Model):
    """Credentials and environment of one exchange account. Keys are encrypted at rest."""

    class Venue(models.TextChoices):
        BINANCE_USDM = "binance_usdm", "Binance USDT-M futures"

    class Environment(models.TextChoices):
        PAPER = "paper", "Paper (simulated exchange, no keys)"
        TESTNET = "testnet", "Binance testnet"
        LIVE = "live", "Live (real money)"

    name = models.SlugField(max_length=64, unique=True)
    venue = models.CharField(max_length=32, choices=Venue.choices, default=Venue.BINANCE_USDM)
    environment = models.CharField(
        max_length=16, choices=Environment.choices, default=Environment.PAPER
    )
    api_key = EncryptedTextField(blank=True, default="")
    api_secret = EncryptedTextField(blank=True, default="")
    base_url = models.URLField(
        blank=True,
        default="",
        help_text="Optional REST base URL override, e.g. http://127.0.0.1:9000 for the local "
        "fake Binance server. Empty: the venue's official URL for the environment.",
    )
    paper_starting_balance = models.DecimalField(
        max_digits=20,
        decimal_places=8,
        default=10000,
        help_text="USDT balance of a paper account when it starts.",
    )
    notes = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_environment_display()})"

    def __repr__(self) -> str:  # never show the secrets
        return f"<ExchangeAccount {self.name} {self.environment}>"

    @property
    def has_credentials(self) -> bool:
        return bool(self.api_key) and bool(self.api_secret)


class Instrument(models.Model):
    """A tradable contract and its exchange filters, refreshed from the exchange's info."""

    class Status(models.TextChoices):
        TRADING = "TRADING", "Trading"
        PENDING_TRADING = "PENDING_TRADING", "Pending trading"
        SETTLING = "SETTLING", "Settling"
        CLOSE = "CLOSE", "Closed"
        BREAK = "BREAK", "Break"

    venue = models.CharField(
        max_length=32,
        choices=ExchangeAccount.Venue.choices,
        default=ExchangeAccount.Venue.BINANCE_USDM,
    )
    symbol = models.CharField(max_length=32)
    base_asset = models.CharField(max_length=16)
    quote_asset = models.CharField(max_length=16)
    contract_type = models.CharField(max_length=32, default="PERPETUAL")
    tick_size = models.DecimalField(max_digits=24, decimal_places=12)
    step_size = models.DecimalField(max_digits=24, decimal_places=12)
    min_qty = models.DecimalField(max_digits=24, decimal_places=12)
    max_qty = models.DecimalField(max_digits=24, decimal_places=12, null=True, blank=True)
    min_notional = models.DecimalField(max_digits=24, decimal_places=12)
    max_leverage = models.PositiveSmallIntegerField(default=20)
    price_precision = models.PositiveSmallIntegerField(default=2)
    quantity_precision = models.PositiveSmallIntegerField(default=3)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.TRADING)
    refreshed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["symbol"]
        constraints = [
            models.UniqueConstraint(fields=["venue", "symbol"], name="instrument_venue_symbol"),
        ]

    def __str__(self) -> str:
        return self.symbol
