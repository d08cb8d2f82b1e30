"""Contract specs and exchange filters for the symbols the fake lists.

The values come from the platform's one table, ``apps.exchange.reference_data.SYMBOL_SPECS``;
this module adds the fake's checks (-1111, -4003, -4014, -4023, ...) and its ``exchangeInfo``
entries.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

from apps.exchange.reference_data import SYMBOL_SPECS, SymbolReference

from . import errors

D = Decimal


@dataclass(frozen=True, slots=True)
class SymbolSpec(SymbolReference):
    """The platform's reference spec of a symbol, with the fake's checks and listing."""

    onboard_date: int = 1569398400000

    def round_price_down(self, price: Decimal) -> Decimal:
        return (price / self.tick_size).to_integral_value(ROUND_DOWN) * self.tick_size

    def round_price_up(self, price: Decimal) -> Decimal:
        return (price / self.tick_size).to_integral_value(ROUND_UP) * self.tick_size

    def round_qty_down(self, qty: Decimal) -> Decimal:
        return (qty / self.step_size).to_integral_value(ROUND_DOWN) * self.step_size

    def fmt_price(self, price: Decimal) -> str:
        return f"{price.quantize(D(1).scaleb(-self.price_precision)):f}"

    def fmt_qty(self, qty: Decimal) -> str:
        return f"{qty.quantize(D(1).scaleb(-self.quantity_precision)):f}"

    def check_price(self, price: Decimal) -> None:
        """Raise -1111/-4001/-4002/-4014 for a price off this symbol's PRICE_FILTER."""
        if _decimals(price) > self.price_precision:
            raise errors.err(errors.PRECISION)
        if price <= 0:
            raise errors.err(errors.PRICE_ZERO)
        if price > self.max_price:
            raise errors.err(errors.PRICE_MIN)
        if price < self.min_price:
            raise errors.BinanceError(-4013, "Price less than min price.")
        if (price - self.min_price) % self.tick_size != 0:
            raise errors.err(errors.TICK)

    def check_qty(self, qty: Decimal, market: bool) -> None:
        """Raise -1111/-4003/-4004/-4005/-4023 for a quantity off LOT_SIZE/MARKET_LOT_SIZE."""
        if _decimals(qty) > self.quantity_precision:
            raise errors.err(errors.PRECISION)
        if qty <= 0:
            raise errors.err(errors.QTY_ZERO)
        if qty < self.min_qty:
            raise errors.err(errors.QTY_MIN)
        if qty > (self.market_max_qty if market else self.max_qty):
            raise errors.err(errors.QTY_MAX)
        if (qty - self.min_qty) % self.step_size != 0:
            raise errors.err(errors.STEP)

    def info(self) -> dict[str, Any]:
        """The ``exchangeInfo`` entry: the reference's, with the fields only the fake lists."""
        return {
            **self.exchange_info(),
            "deliveryDate": 4133404800000,
            "onboardDate": self.onboard_date,
            "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000",
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "underlyingType": "COIN",
            "underlyingSubType": [],
            "settlePlan": 0,  # perpetuals have no settlement plan: Binance sends 0
            "triggerProtect": "0.0500",
            "liquidationFee": "0.012500",
            "marketTakeBound": "0.05",
            "maxMoveOrderLimit": 10000,
            "permissionSets": ["GRID", "COPY"],
        }


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _from_reference(ref: SymbolReference) -> SymbolSpec:
    return SymbolSpec(**{f.name: getattr(ref, f.name) for f in fields(SymbolReference)})


# The platform's one table of symbol specs: the fake lists exactly what the demo and paper
# trading seed their instruments from.
SPECS: dict[str, SymbolSpec] = {s: _from_reference(r) for s, r in SYMBOL_SPECS.items()}

RATE_LIMITS_DOC = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
]


def get_spec(symbol: str | None) -> SymbolSpec:
    """Return the spec for ``symbol``; raise -1102 when absent and -1121 when unknown."""
    if not symbol:
        raise errors.missing("symbol")
    spec = SPECS.get(symbol)
    if spec is None:
        raise errors.invalid_symbol()
    return spec
