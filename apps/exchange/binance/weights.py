"""Binance USDT-M request weights (binance-notes §1): what each call costs the limiter."""

from __future__ import annotations

DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)


def klines_weight(limit: int) -> int:
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


def depth_limit(requested: int) -> int:
    """The smallest valid depth limit that holds `requested` levels."""
    for allowed in DEPTH_LIMITS:
        if requested <= allowed:
            return allowed
    return DEPTH_LIMITS[-1]


def depth_weight(limit: int) -> int:
    return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20


def per_symbol(symbol: str | None, with_symbol: int, without: int) -> int:
    return with_symbol if symbol else without


EXCHANGE_INFO = 1
SERVER_TIME = 1
TICKER_PRICE = 1
BOOK_TICKER = 2
PREMIUM_INDEX = 1
FUNDING_RATE = 1
ACCOUNT = 5
BALANCE = 5
POSITION_RISK = 5
SYMBOL_CONFIG = 5
USER_TRADES = 5
INCOME = 30  # GET /fapi/v1/income
NEW_ORDER = 0  # plus one on each ORDERS window
QUERY_ORDER = 1
CANCEL_ORDER = 1
CANCEL_ALL = 1
LEVERAGE = 1
MARGIN_TYPE = 1
POSITION_MODE = 1
LISTEN_KEY = 1
