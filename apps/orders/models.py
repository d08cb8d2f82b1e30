from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone

from apps.bots.models import Bot
from apps.orders.domain.state import OrderStatus, check_transition

DECIMAL = {"max_digits": 28, "decimal_places": 12}


class Order(models.Model):
    """An order as we sent it and as the exchange reports it.

    ``status`` changes only through ``transition_to`` (and ``save`` refuses any other change),
    which checks the one transition table in ``apps.orders.domain.state`` and records an
    ``OrderEvent``.
    """

    class Status(models.TextChoices):
        """The states of ``apps.orders.domain.state.OrderStatus`` (a test keeps them equal)."""

        PENDING_NEW = "PENDING_NEW", "Pending new (not yet acknowledged)"
        NEW = "NEW", "New (open)"
        TRIGGERED = "TRIGGERED", "Triggered (conditional order fired)"
        PARTIALLY_FILLED = "PARTIALLY_FILLED", "Partially filled"
        FILLED = "FILLED", "Filled"
        PENDING_CANCEL = "PENDING_CANCEL", "Cancel sent"
        CANCELED = "CANCELED", "Canceled"
        REJECTED = "REJECTED", "Rejected"
        EXPIRED = "EXPIRED", "Expired"

    class Type(models.TextChoices):
        MARKET = "MARKET", "Market"
        LIMIT = "LIMIT", "Limit"
        STOP_MARKET = "STOP_MARKET", "Stop market"
        TAKE_PROFIT_MARKET = "TAKE_PROFIT_MARKET", "Take-profit market"
        TRAILING_STOP_MARKET = "TRAILING_STOP_MARKET", "Trailing stop market"

    class Side(models.TextChoices):
        BUY = "BUY", "Buy"
        SELL = "SELL", "Sell"

    class PositionSide(models.TextChoices):
        BOTH = "BOTH", "Both (one-way)"
        LONG = "LONG", "Long"
        SHORT = "SHORT", "Short"

    class TimeInForce(models.TextChoices):
        GTC = "GTC", "Good till cancel"
        IOC = "IOC", "Immediate or cancel"
        FOK = "FOK", "Fill or kill"
        GTX = "GTX", "Post only"

    class Purpose(models.TextChoices):
        ENTRY = "entry", "Entry"
        EXIT = "exit", "Exit"
        STOP_LOSS = "stop_loss", "Stop-loss"
        TAKE_PROFIT = "take_profit", "Take-profit"
        TRAILING_STOP = "trailing_stop", "Trailing stop"
        EMERGENCY = "emergency", "Emergency close"
        LIQUIDATION = "liquidation", "Liquidation (by the exchange)"

    bot = models.ForeignKey(Bot, on_delete=models.PROTECT, related_name="orders")
    trade = models.ForeignKey(
        "trading.Trade", on_delete=models.SET_NULL, null=True, blank=True, related_name="orders"
    )
    symbol = models.CharField(max_length=32)
    client_order_id = models.CharField(max_length=36, unique=True)
    exchange_order_id = models.CharField(max_length=64, blank=True, default="")
    algo_id = models.CharField(max_length=64, blank=True, default="")
    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.ENTRY)
    type = models.CharField(max_length=24, choices=Type.choices)
    side = models.CharField(max_length=4, choices=Side.choices)
    position_side = models.CharField(
        max_length=5, choices=PositionSide.choices, default=PositionSide.BOTH
    )
    time_in_force = models.CharField(
        max_length=3, choices=TimeInForce.choices, blank=True, default=""
    )
    reduce_only = models.BooleanField(default=False)
    close_position = models.BooleanField(default=False)
    price = models.DecimalField(**DECIMAL, null=True, blank=True)
    trigger_price = models.DecimalField(**DECIMAL, null=True, blank=True)
    quantity = models.DecimalField(**DECIMAL)
    filled_quantity = models.DecimalField(**DECIMAL, default=0)
    average_price = models.DecimalField(**DECIMAL, null=True, blank=True)
    expected_price = models.DecimalField(
        **DECIMAL, null=True, blank=True, help_text="Price the order was planned at (book)."
    )
    slippage_bps = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Achieved vs expected price in basis points; positive = worse for us.",
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=OrderStatus.PENDING_NEW, editable=False
    )
    reject_code = models.IntegerField(null=True, blank=True)
    reject_reason = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    status_changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["bot", "status"]),
            models.Index(fields=["symbol", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.client_order_id} {self.side} {self.type} {self.symbol}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        stored = getattr(self, "_stored_status", None)
        if stored is None and self.pk is None:
            if self.status != OrderStatus.PENDING_NEW:
                # A new row may start in any state reached from PENDING_NEW (e.g. imported).
                check_transition(OrderStatus.PENDING_NEW, self.status)
        elif (
            stored is not None
            and stored != self.status
            and not getattr(self, "_transition_ok", False)
        ):
            check_transition(stored, self.status)
            raise ValueError("change an order's status with Order.transition_to()")
        super().save(*args, **kwargs)
        self._stored_status = self.status

    @classmethod
    def from_db(cls, db: Any, field_names: Any, values: Any) -> Order:
        instance = super().from_db(db, field_names, values)
        instance._stored_status = instance.status
        return instance

    def transition_to(self, status: str, *, at: Any = None, detail: str = "") -> OrderEvent:
        """Move to ``status`` if the transition table allows it; save and record the event."""
        previous = self.status
        check_transition(previous, status)
        self.status = status
        self.status_changed_at = at or timezone.now()
        self._transition_ok = True
        try:
            self.save()
        finally:
            self._transition_ok = False
        return OrderEvent.objects.create(
            order=self,
            from_status=previous,
            to_status=status,
            at=self.status_changed_at,
            detail=detail[:255],
        )


class OrderEvent(models.Model):
    """One status change of an order, with its time."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=16)
    to_status = models.CharField(max_length=16)
    at = models.DateTimeField()
    detail = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.from_status} -> {self.to_status}"


class Fill(models.Model):
    """One execution of an order (a Binance user trade), with its fee."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="fills")
    trade = models.ForeignKey(
        "trading.Trade", on_delete=models.SET_NULL, null=True, blank=True, related_name="fills"
    )
    exchange_trade_id = models.CharField(max_length=64)
    price = models.DecimalField(**DECIMAL)
    quantity = models.DecimalField(**DECIMAL)
    fee = models.DecimalField(**DECIMAL, default=0)
    fee_asset = models.CharField(max_length=16, default="USDT")
    is_maker = models.BooleanField(default=False)
    realized_pnl = models.DecimalField(**DECIMAL, default=0)
    filled_at = models.DateTimeField()

    class Meta:
        ordering = ["filled_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "exchange_trade_id"], name="fill_order_exchange_trade"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} @ {self.price} ({self.order.client_order_id})"

    @property
    def notional(self) -> Any:
        return self.price * self.quantity
