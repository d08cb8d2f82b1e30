"""Binance USDT-M contract specs of the symbols shipped with the platform: the one table.

The demo, paper trading and the tests seed their instruments from it offline
(``exchange_info_symbols``, in the shape of a Binance ``exchangeInfo`` symbol entry, so the same
parser serves the real exchange's answer), and the fake Binance server lists exactly these
symbols with these filters (``testsupport.fakebinance.symbols``). Tick and step sizes,
precisions, quantity limits and MIN_NOTIONAL are Binance's for these perpetuals in 2024-2025
(SOLUSDT: step 0.01, quantity precision 2); price limits and PERCENT_PRICE bands are close to
theirs. Change a value here and every user of the table follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = ["MAX_LEVERAGE", "SYMBOL_SPECS", "SymbolReference", "exchange_info_symbols"]


@dataclass(frozen=True, slots=True)
class SymbolReference:
    """One perpetual's contract spec and filters, as Binance's ``exchangeInfo`` states them."""

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
    percent_band: Decimal  # PERCENT_PRICE: multiplierUp = 1 + band, multiplierDown = 1 - band
    max_leverage: int

    @property
    def multiplier_up(self) -> Decimal:
        return (1 + self.percent_band).quantize(Decimal("0.0001"))

    @property
    def multiplier_down(self) -> Decimal:
        return (1 - self.percent_band).quantize(Decimal("0.0001"))

    def filters(self) -> list[dict[str, Any]]:
        """The ``exchangeInfo`` filters of this symbol."""
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

    def exchange_info(self) -> dict[str, Any]:
        """This symbol as a Binance ``exchangeInfo['symbols']`` entry (the fields we read)."""
        return {
            "symbol": self.symbol,
            "pair": self.symbol,
            "contractType": "PERPETUAL",
            "status": "TRADING",
            "baseAsset": self.base,
            "quoteAsset": "USDT",
            "marginAsset": "USDT",
            "pricePrecision": self.price_precision,
            "quantityPrecision": self.quantity_precision,
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
        }


def _spec(
    symbol: str,
    pp: int,
    qp: int,
    tick: str,
    min_price: str,
    max_price: str,
    step: str,
    min_qty: str,
    max_qty: str,
    market_max_qty: str,
    notional: str,
    band: str,
    leverage: int,
) -> SymbolReference:
    return SymbolReference(
        symbol=symbol,
        base=symbol.removesuffix("USDT"),
        price_precision=pp,
        quantity_precision=qp,
        tick_size=Decimal(tick),
        min_price=Decimal(min_price),
        max_price=Decimal(max_price),
        step_size=Decimal(step),
        min_qty=Decimal(min_qty),
        max_qty=Decimal(max_qty),
        market_max_qty=Decimal(market_max_qty),
        min_notional=Decimal(notional),
        percent_band=Decimal(band),
        max_leverage=leverage,
    )


# fmt: off
# symbol, price/qty precision, tick, min/max price, step, min/max qty, market max qty,
# min notional, PERCENT_PRICE band, max leverage
SYMBOL_SPECS: dict[str, SymbolReference] = {
    s.symbol: s
    for s in (
        _spec("BTCUSDT", 2, 3, "0.10", "261.10", "809484", "0.001", "0.001", "1000", "120", "100", "0.05", 125),  # noqa: E501
        _spec("ETHUSDT", 2, 3, "0.01", "39.86", "306177", "0.001", "0.001", "10000", "2000", "20", "0.05", 125),  # noqa: E501
        _spec("SOLUSDT", 4, 2, "0.0100", "0.4200", "6857", "0.01", "0.01", "1000000", "5000", "5", "0.05", 100),  # noqa: E501
        _spec("BNBUSDT", 3, 2, "0.010", "6.600", "100000", "0.01", "0.01", "100000", "2000", "5", "0.05", 75),  # noqa: E501
        _spec("XRPUSDT", 4, 1, "0.0001", "0.0143", "100000", "0.1", "0.1", "10000000", "1000000", "5", "0.10", 75),  # noqa: E501
        _spec("ADAUSDT", 5, 0, "0.00010", "0.01720", "50", "1", "1", "10000000", "1000000", "5", "0.10", 75),  # noqa: E501
        _spec("DOGEUSDT", 6, 0, "0.000010", "0.002440", "30", "1", "1", "50000000", "30000000", "5", "0.10", 75),  # noqa: E501
    )
}
# fmt: on

MAX_LEVERAGE: dict[str, int] = {symbol: spec.max_leverage for symbol, spec in SYMBOL_SPECS.items()}


def exchange_info_symbols() -> list[dict[str, Any]]:
    """The shipped symbols as Binance ``exchangeInfo['symbols']`` entries."""
    return [spec.exchange_info() for spec in SYMBOL_SPECS.values()]
