"""The TradingView alert body: what a valid signal looks like (field errors are a 400)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from apps.webhook.domain.symbols import SymbolError, normalize_symbol

SIZE_FIELDS = ("quantity", "quote_amount", "percent_equity")


def _positive(help_text: str, *, max_value: Decimal | None = None) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=38,
        decimal_places=18,
        min_value=Decimal("1e-18"),
        max_value=max_value,
        required=False,
        allow_null=True,
        help_text=help_text,
        coerce_to_string=True,
    )


class LowerChoiceField(serializers.ChoiceField):
    """A choice matched without regard to case ("BUY" and "buy" are the same action)."""

    def to_internal_value(self, data: Any) -> Any:
        return super().to_internal_value(data.strip().lower() if isinstance(data, str) else data)


class TradingViewSignalSerializer(serializers.Serializer):
    passphrase = serializers.CharField(
        write_only=True,
        max_length=256,
        help_text="WEBHOOK_SECRET, or the bot's own passphrase. Never stored or logged.",
    )
    bot = serializers.SlugField(max_length=64, help_text="The bot's name.")
    symbol = serializers.CharField(
        max_length=64,
        help_text="BTCUSDT, or TradingView's {{ticker}} forms: BTCUSDT.P, BINANCE:BTCUSDT.P.",
    )
    action = LowerChoiceField(choices=["buy", "sell", "close"])
    order_type = LowerChoiceField(choices=["market", "limit"], default="market")
    quantity = _positive("Base-asset quantity (e.g. 0.01 BTC).")
    quote_amount = _positive("Notional in USDT (quantity = quote_amount / price).")
    percent_equity = _positive(
        "Notional as a percentage of the bot's equity.", max_value=Decimal(1000)
    )
    price = _positive("Limit price (required for order_type limit).")
    stop_loss = _positive("Stop-loss price (default: the bot's default_sl from the entry).")
    take_profit = _positive("Take-profit price (default: the bot's default_tp).")
    alert_id = serializers.CharField(
        max_length=128,
        required=False,
        allow_blank=True,
        default="",
        help_text="A unique id per alert firing; a repeat is answered with the first signal.",
    )
    time = serializers.DateTimeField(
        help_text="When the alert fired, ISO 8601 UTC: TradingView's {{timenow}}."
    )

    def validate_symbol(self, value: str) -> str:
        try:
            return normalize_symbol(value)
        except SymbolError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        sizes = [name for name in SIZE_FIELDS if attrs.get(name) is not None]
        if len(sizes) > 1:
            why = f"give one size only; {' and '.join(sizes)} are set"
            raise serializers.ValidationError(dict.fromkeys(sizes, why))
        if attrs["order_type"] == "limit" and attrs.get("price") is None:
            raise serializers.ValidationError({"price": "a limit order needs a price"})
        if attrs["action"] == "close" and attrs["order_type"] == "limit":
            raise serializers.ValidationError(
                {"order_type": "close is always a market order (reduce-only)"}
            )
        return attrs


class WebhookAcceptedSerializer(serializers.Serializer):
    signal_id = serializers.IntegerField()
    status = serializers.CharField(help_text="accepted, or the first delivery's outcome.")
    duplicate = serializers.BooleanField()
