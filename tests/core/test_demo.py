"""The demo's instruments come from the one symbol-spec table the fake Binance server serves."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from apps.exchange.models import Instrument
from apps.exchange.reference_data import SYMBOL_SPECS, exchange_info_symbols
from apps.exchange.services import instrument_values
from testsupport.fakebinance import FakeBinance, fb_client
from testsupport.fakebinance.symbols import SPECS


async def _fake_exchange_info() -> dict[str, dict[str, Any]]:
    """The fake's ``exchangeInfo`` symbols, through the real python-binance client."""
    async with FakeBinance(seed=7) as fake:
        client = await fb_client(fake)
        try:
            info = await client.futures_exchange_info()
        finally:
            await client.close_connection()
    return {entry["symbol"]: entry for entry in info["symbols"]}


@pytest.mark.django_db
def test_demo_instruments_equal_the_fake_exchange_info_for_every_symbol(demo) -> None:
    served = asyncio.run(_fake_exchange_info())
    rows = {i.symbol: i for i in Instrument.objects.all()}
    demo_entries = {e["symbol"]: e for e in exchange_info_symbols()}

    assert set(rows) == set(served) == set(demo_entries) == set(SYMBOL_SPECS)
    for symbol, entry in served.items():
        want = instrument_values(entry, max_leverage=SPECS[symbol].max_leverage)
        assert {name: getattr(rows[symbol], name) for name in want} == want, symbol
        assert demo_entries[symbol]["filters"] == entry["filters"], symbol
    sol = rows["SOLUSDT"]  # Binance USDT-M SOLUSDT (2024-2025): step 0.01, tick 0.0100
    assert (sol.step_size, sol.tick_size, sol.quantity_precision) == (
        Decimal("0.01"),
        Decimal("0.01"),
        2,
    )
