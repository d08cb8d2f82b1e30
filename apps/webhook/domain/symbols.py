"""TradingView's ``{{ticker}}`` forms to Binance USDT-M symbols.

``BTCUSDT.P`` (TradingView's perpetual suffix), ``BINANCE:BTCUSDT.P`` (with the exchange
prefix, ``{{exchange}}:{{ticker}}``), ``BTCUSDTPERP``, ``BTC/USDT``, ``BTC-USDT`` and
``BTC/USDT:USDT`` (ccxt) all name ``BTCUSDT``. Whether the result is a listed instrument the
bot trades is for the caller to check.
"""

from __future__ import annotations

import re

__all__ = ["SymbolError", "normalize_symbol"]

_VALID = re.compile(r"^[A-Z0-9]{2,30}$")


class SymbolError(ValueError):
    """The text cannot name a symbol; one-line reason."""


def normalize_symbol(raw: str) -> str:
    text = raw.strip().upper()
    if not text:
        raise SymbolError("symbol is required")
    if text.count(":") == 1 and "/" not in text:
        text = text.split(":", 1)[1]  # BINANCE:BTCUSDT.P
    elif "/" in text:
        text = text.split(":", 1)[0]  # BTC/USDT:USDT (ccxt)
    for suffix in (".P", ".PERP", "PERP"):
        if text.endswith(suffix) and len(text) > len(suffix):
            text = text[: -len(suffix)]
            break
    text = text.replace("/", "").replace("-", "").replace("_", "")
    if not _VALID.fullmatch(text):
        raise SymbolError(f"not a symbol: {raw.strip()[:40]!r}")
    return text
