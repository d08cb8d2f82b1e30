from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q

from apps.bots.models import Bot
from apps.orders.models import Order
from apps.strategies.models import TradingMode

DECIMAL = {"max_digits": 28, "decimal_places": 12}


class Direction(models.TextChoices):
    LONG = "LONG", "Long"
    SHORT = "SHORT", "Short"


class Trade(models.Model):
    """A round trip: from the first entry fill to the fill that makes the position flat."""

    class Status(models.TextChoices):
        OPEN = "OPEN", "Open"
        CLOSED = "CLOSED", "Closed"

    class ExitReason(models.TextChoices):
        SIGNAL = "signal", "Strategy signal"
        STOP_LOSS = "stop_loss", "Stop-loss"
        TAKE_PROFIT = "take_profit", "Take-profit"
        TRAILING = "trailing", "Trailing stop"
        LIQUIDATION = "liquidation", "Liquidation"
        KILL_SWITCH = "kill_switch", "Kill switch / emergency close"
        CIRCUIT_BREAKER = "circuit_breaker", "Circuit breaker (flatten)"
        MANUAL = "manual", "Manual"
        END = "end", "End of replay"

    bot = models.ForeignKey(Bot, on_delete=models.PROTECT, related_name="trades")
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=5, choices=Direction.choices)
    mode = models.CharField(max_length=8, choices=TradingMode.choices)
    quantity = models.DecimalField(**DECIMAL, help_text="Largest position size of the trade.")
    remaining_quantity = models.DecimalField(**DECIMAL, default=0)
    entry_price = models.DecimalField(**DECIMAL, help_text="Average entry price.")
    exit_price = models.DecimalField(
        **DECIMAL, null=True, blank=True, help_text="Average exit price."
    )
    leverage = models.PositiveSmallIntegerField(default=1)
    entry_time = models.DateTimeField()
    exit_time = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=6, choices=Status.choices, default=Status.OPEN)
    roi = models.DecimalField(
        max_digits=14,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="Return on margin in %: net PnL / (entry notional / leverage) x 100.",
    )
    fees = models.DecimalField(**DECIMAL, default=0)
    funding = models.DecimalField(
        **DECIMAL, default=0, help_text="Funding paid (positive) or received (negative)."
    )
    realized_pnl = models.DecimalField(
        **DECIMAL, default=0, help_text="Price PnL of the closed quantity, before fees/funding."
    )
    exit_reason = models.CharField(
        max_length=16, choices=ExitReason.choices, blank=True, default=""
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-entry_time"]
        indexes = [
            models.Index(fields=["bot", "status"]),
            models.Index(fields=["status", "exit_time"]),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.symbol} {self.entry_time:%Y-%m-%d %H:%M} ({self.status})"

    @property
    def net_pnl(self) -> Decimal:
        return self.realized_pnl - self.fees - self.funding


class Position(models.Model):
    """The current position of a bot in a symbol (flat when quantity is zero)."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="positions")
    symbol = models.CharField(max_length=32)
    side = models.CharField(max_length=5, choices=Direction.choices, blank=True, default="")
    quantity = models.DecimalField(**DECIMAL, default=0)
    entry_price = models.DecimalField(**DECIMAL, default=0)
    mark_price = models.DecimalField(**DECIMAL, null=True, blank=True)
    unrealized_pnl = models.DecimalField(**DECIMAL, default=0)
    leverage = models.PositiveSmallIntegerField(default=1)
    liquidation_price = models.DecimalField(**DECIMAL, null=True, blank=True)
    stop_price = models.DecimalField(**DECIMAL, null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["bot", "symbol"]
        constraints = [
            models.UniqueConstraint(fields=["bot", "symbol"], name="position_bot_symbol"),
        ]

    def __str__(self) -> str:
        return f"{self.bot} {self.symbol} {self.side or 'FLAT'} {self.quantity}"

    @property
    def is_open(self) -> bool:
        return self.quantity != 0

    @property
    def notional(self) -> Decimal:
        return abs(self.quantity) * (self.mark_price or self.entry_price)


class Signal(models.Model):
    """A strategy or external signal and what became of it."""

    class Source(models.TextChoices):
        STRATEGY = "strategy", "Strategy"
        WEBHOOK = "webhook", "Webhook (TradingView)"
        MANUAL = "manual", "Manual"

    class Action(models.TextChoices):
        BUY = "buy", "Buy / long"
        SELL = "sell", "Sell / short"
        CLOSE = "close", "Close"

    class Outcome(models.TextChoices):
        RECEIVED = "received", "Received"
        ACCEPTED = "accepted", "Accepted, queued"
        PLACED = "placed", "Order placed"
        BLOCKED = "blocked", "Blocked by a risk rule"
        REJECTED = "rejected", "Rejected (cannot be acted on)"
        FAILED = "failed", "Failed (exchange error)"
        IGNORED = "ignored", "Ignored"
        EXPIRED = "expired", "Expired (not acted on in time)"

    bot = models.ForeignKey(
        Bot, on_delete=models.SET_NULL, null=True, blank=True, related_name="signals"
    )
    source = models.CharField(max_length=10, choices=Source.choices)
    symbol = models.CharField(max_length=32)
    action = models.CharField(max_length=5, choices=Action.choices)
    alert_id = models.CharField(max_length=128, blank=True, default="")
    dedup_key = models.CharField(
        max_length=160,
        blank=True,
        default="",
        help_text="Replay key of an accepted webhook signal: alert:<alert_id>, or the body digest "
        "and time bucket; unique per bot, so a repeat delivery is answered with this signal.",
    )
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    payload = models.JSONField(default=dict, blank=True, help_text="As received, secrets removed.")
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.RECEIVED)
    blocked_by = models.CharField(max_length=64, blank=True, default="")
    detail = models.TextField(blank=True, default="")
    order = models.ForeignKey(
        Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="signals"
    )
    signal_time = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["bot", "dedup_key"],
                condition=~Q(dedup_key=""),
                name="signal_bot_dedup_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.action} {self.symbol} -> {self.outcome}"


class BotCycle(models.Model):
    """One decision cycle of a bot in a symbol at a candle close; unique, so a retried or
    duplicated task for the same candle does nothing the second time."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="cycles")
    symbol = models.CharField(max_length=32)
    candle_open_time = models.BigIntegerField(help_text="Open time (ms) of the decided candle.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Runs of this cycle (a transient venue error is retried)."
    )
    outcome = models.CharField(max_length=16, blank=True, default="")
    detail = models.TextField(blank=True, default="")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["bot", "symbol", "candle_open_time"], name="botcycle_bot_symbol_candle"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bot} {self.symbol} @{self.candle_open_time}: {self.outcome or self.status}"


class PaperExchange(models.Model):
    """The simulated exchange of a paper bot, saved between cycles (each bot trades its own
    simulated sub-account, so two paper bots never net each other's positions)."""

    bot = models.OneToOneField(Bot, on_delete=models.CASCADE, related_name="paper_exchange")
    state = models.BinaryField(help_text="Pickled SimulatedExchange (written by the engine).")
    last_candle_time = models.JSONField(
        default=dict, help_text="Open time (ms) of the last candle fed, per symbol."
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"paper exchange of {self.bot}"


class FundingPayment(models.Model):
    """A funding payment the venue booked on a live account (income FUNDING_FEE), recorded
    once and added to the funding of the bot's trade that was open when it was paid."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="funding_payments")
    symbol = models.CharField(max_length=32)
    venue_id = models.CharField(max_length=64, help_text="The venue's id of the payment.")
    amount = models.DecimalField(**DECIMAL, help_text="Wallet change; negative when paid.")
    paid_at = models.DateTimeField()
    trade = models.ForeignKey(
        Trade, on_delete=models.SET_NULL, null=True, blank=True, related_name="funding_payments"
    )
    booked = models.DecimalField(
        **DECIMAL, default=0, help_text="Funding added to the trade (its share; paid > 0)."
    )

    class Meta:
        ordering = ["-paid_at"]
        constraints = [
            models.UniqueConstraint(fields=["bot", "venue_id"], name="fundingpayment_bot_venue"),
        ]

    def __str__(self) -> str:
        return f"{self.bot} {self.symbol} {self.amount} @ {self.paid_at:%Y-%m-%d %H:%M}"
