"""Contract specs and exchange filters for the symbols the fake lists.

Values follow Binance USDT-M perpetuals as published in 2025 (tick/step sizes, precisions and
MIN_NOTIONAL are the real ones at that time; price bands and max quantities are close to them).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

from . import errors

D = Decimal


@dataclass(frozen=True)
class SymbolSpec:
    symbol: str
    base: str
    price_precision: int
    quantity_precision: int
    tick_size: Decimal
    min_price: Decimal
    max_price: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_max_qty: Decimal
    min_notional: Decimal
    multiplier_up: Decimal
    multiplier_down: Decimal
    max_leverage: int = 125
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

    def filters(self) -> list[dict[str, Any]]:
        return [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": f"{self.min_price:f}",
                "maxPrice": f"{self.max_price:f}",
                "tickSize": f"{self.tick_size:f}",
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": f"{self.min_qty:f}",
                "maxQty": f"{self.max_qty:f}",
                "stepSize": f"{self.step_size:f}",
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": f"{self.min_qty:f}",
                "maxQty": f"{self.market_max_qty:f}",
                "stepSize": f"{self.step_size:f}",
            },
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": f"{self.min_notional:f}"},
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": f"{self.multiplier_up:f}",
                "multiplierDown": f"{self.multiplier_down:f}",
                "multiplierDecimal": "4",
            },
        ]

    def info(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "pair": self.symbol,
            "contractType": "PERPETUAL",
            "deliveryDate": 4133404800000,
            "onboardDate": self.onboard_date,
            "status": "TRADING",
            "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000",
            "baseAsset": self.base,
            "quoteAsset": "USDT",
            "marginAsset": "USDT",
            "pricePrecision": self.price_precision,
            "quantityPrecision": self.quantity_precision,
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "underlyingType": "COIN",
            "underlyingSubType": [],
            "triggerProtect": "0.0500",
            "liquidationFee": "0.012500",
            "marketTakeBound": "0.05",
            "maxMoveOrderLimit": 10000,
            "filters": self.filters(),
            "orderTypes": [
                "LIMIT",
                "MARKET",
                "STOP",
                "STOP_MARKET",
                "TAKE_PROFIT",
                "TAKE_PROFIT_MARKET",
                "TRAILING_STOP_MARKET",
            ],
            "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
            "permissionSets": ["GRID", "COPY"],
        }


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _spec(
    sym: str,
    pp: int,
    qp: int,
    tick: str,
    minp: str,
    maxp: str,
    step: str,
    minq: str,
    maxq: str,
    mmaxq: str,
    notional: str,
    band: str = "0.05",
) -> SymbolSpec:
    return SymbolSpec(
        symbol=sym,
        base=sym.removesuffix("USDT"),
        price_precision=pp,
        quantity_precision=qp,
        tick_size=D(tick),
        min_price=D(minp),
        max_price=D(maxp),
        step_size=D(step),
        min_qty=D(minq),
        max_qty=D(maxq),
        market_max_qty=D(mmaxq),
        min_notional=D(notional),
        multiplier_up=(1 + D(band)).quantize(D("0.0001")),
        multiplier_down=(1 - D(band)).quantize(D("0.0001")),
    )


SPECS: dict[str, SymbolSpec] = {
    s.symbol: s
    for s in (
        _spec("BTCUSDT", 2, 3, "0.10", "261.10", "809484", "0.001", "0.001", "1000", "120", "100"),
        _spec("ETHUSDT", 2, 3, "0.01", "39.86", "306177", "0.001", "0.001", "10000", "2000", "20"),
        _spec("SOLUSDT", 4, 2, "0.0100", "0.4200", "6857", "0.01", "0.01", "1000000", "5000", "5"),
        _spec("BNBUSDT", 3, 2, "0.010", "6.600", "100000", "0.01", "0.01", "100000", "2000", "5"),
        _spec(
            "XRPUSDT",
            4,
            1,
            "0.0001",
            "0.0143",
            "100000",
            "0.1",
            "0.1",
            "10000000",
            "1000000",
            "5",
            "0.10",
        ),
        _spec(
            "ADAUSDT",
            5,
            0,
            "0.00010",
            "0.01720",
            "50",
            "1",
            "1",
            "10000000",
            "1000000",
            "5",
            "0.10",
        ),
        _spec(
            "DOGEUSDT",
            6,
            0,
            "0.000010",
            "0.002440",
            "30",
            "1",
            "1",
            "50000000",
            "30000000",
            "5",
            "0.10",
        ),
    )
}

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
