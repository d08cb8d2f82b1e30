"""Writes to exchange-side records: instruments refreshed from an exchangeInfo answer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.exchange.models import Instrument


class InstrumentInfoError(ValueError):
    """An exchangeInfo symbol entry lacks a filter or field the platform needs."""


def _filters(entry: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {f["filterType"]: f for f in entry.get("filters", [])}


def instrument_values(entry: Mapping[str, Any], *, max_leverage: int | None) -> dict[str, Any]:
    symbol = entry.get("symbol", "?")
    filters = _filters(entry)
    try:
        price, lot, notional = (
            filters["PRICE_FILTER"],
            filters["LOT_SIZE"],
            filters["MIN_NOTIONAL"],
        )
        values = {
            "base_asset": entry["baseAsset"],
            "quote_asset": entry["quoteAsset"],
            "contract_type": entry.get("contractType", "PERPETUAL"),
            "tick_size": Decimal(price["tickSize"]),
            "step_size": Decimal(lot["stepSize"]),
            "min_qty": Decimal(lot["minQty"]),
            "max_qty": Decimal(lot["maxQty"]),
            "min_notional": Decimal(str(notional.get("notional", notional.get("minNotional")))),
            "price_precision": int(entry.get("pricePrecision", 8)),
            "quantity_precision": int(entry.get("quantityPrecision", 8)),
            "status": entry.get("status", "TRADING"),
        }
    except (KeyError, ArithmeticError, TypeError) as exc:
        raise InstrumentInfoError(f"{symbol}: exchangeInfo entry lacks {exc}") from exc
    if max_leverage is not None:
        values["max_leverage"] = max_leverage
    return values


def instruments_sync(
    *,
    symbols: Iterable[Mapping[str, Any]],
    venue: str = "binance_usdm",
    max_leverage: Mapping[str, int] | None = None,
    only: Iterable[str] | None = None,
) -> list[Instrument]:
    """Create or update instruments from exchangeInfo symbol entries (all or nothing)."""
    wanted = {s.upper() for s in only} if only else None
    now = timezone.now()
    rows = []
    prepared = []
    for entry in symbols:
        symbol = entry.get("symbol", "")
        if wanted is not None and symbol not in wanted:
            continue
        leverage = (max_leverage or {}).get(symbol)
        prepared.append((symbol, instrument_values(entry, max_leverage=leverage)))
    with transaction.atomic():
        for symbol, values in prepared:
            instrument, _ = Instrument.objects.update_or_create(
                venue=venue, symbol=symbol, defaults={**values, "refreshed_at": now}
            )
            rows.append(instrument)
    return rows
