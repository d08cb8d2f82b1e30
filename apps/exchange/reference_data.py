"""Binance USDT-M exchange filters of the symbols shipped with the platform.

Used to seed instruments offline (demo, paper trading) in the shape of a Binance
``exchangeInfo`` symbol entry, so the same parser serves the real exchange's answer.
Values as published by Binance for these perpetuals in 2025.
"""

from __future__ import annotations

from typing import Any

# symbol: (base, tick, step, min_qty, max_qty, market_max_qty, min_notional, price_prec, qty_prec,
#          max_leverage)
_SPECS: dict[str, tuple[str, str, str, str, str, str, str, int, int, int]] = {
    "BTCUSDT": ("BTC", "0.10", "0.001", "0.001", "1000", "120", "100", 2, 3, 125),
    "ETHUSDT": ("ETH", "0.01", "0.001", "0.001", "10000", "2000", "20", 2, 3, 125),
    "SOLUSDT": ("SOL", "0.0100", "1", "1", "1000000", "5000", "5", 4, 0, 100),
    "BNBUSDT": ("BNB", "0.010", "0.01", "0.01", "100000", "2000", "5", 3, 2, 75),
    "XRPUSDT": ("XRP", "0.0001", "0.1", "0.1", "10000000", "2000000", "5", 4, 1, 75),
    "ADAUSDT": ("ADA", "0.00010", "1", "1", "10000000", "1000000", "5", 5, 0, 75),
    "DOGEUSDT": ("DOGE", "0.000010", "1", "1", "50000000", "30000000", "5", 6, 0, 75),
}

MAX_LEVERAGE: dict[str, int] = {symbol: spec[9] for symbol, spec in _SPECS.items()}


def exchange_info_symbols() -> list[dict[str, Any]]:
    """The shipped symbols as Binance ``exchangeInfo['symbols']`` entries."""
    out = []
    for symbol, (base, tick, step, min_q, max_q, mkt_max, notional, pp, qp, _lev) in _SPECS.items():
        out.append(
            {
                "symbol": symbol,
                "pair": symbol,
                "contractType": "PERPETUAL",
                "status": "TRADING",
                "baseAsset": base,
                "quoteAsset": "USDT",
                "marginAsset": "USDT",
                "pricePrecision": pp,
                "quantityPrecision": qp,
                "filters": [
                    {
                        "filterType": "PRICE_FILTER",
                        "minPrice": tick,
                        "maxPrice": "4529764",
                        "tickSize": tick,
                    },
                    {"filterType": "LOT_SIZE", "minQty": min_q, "maxQty": max_q, "stepSize": step},
                    {
                        "filterType": "MARKET_LOT_SIZE",
                        "minQty": min_q,
                        "maxQty": mkt_max,
                        "stepSize": step,
                    },
                    {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                    {"filterType": "MIN_NOTIONAL", "notional": notional},
                    {
                        "filterType": "PERCENT_PRICE",
                        "multiplierUp": "1.0500",
                        "multiplierDown": "0.9500",
                        "multiplierDecimal": "4",
                    },
                ],
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
        )
    return out
