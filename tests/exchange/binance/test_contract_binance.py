"""The shared Exchange contract suite, run against the Binance adapter over the fake server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest

from apps.exchange.binance import BinanceFuturesExchange
from apps.exchange.domain.protocol import Exchange

from ..contract import CONTRACT_CASES, Case, ContractHarness, case_id, run_case
from .conftest import adapter_for, running_fake


@asynccontextmanager
async def binance_harness() -> AsyncIterator[ContractHarness]:
    async with running_fake() as fb, adapter_for(fb) as exchange:

        async def move_price(target: Decimal) -> None:
            fb.set_price("BTCUSDT", target)  # the fake matches and triggers synchronously

        yield ContractHarness(exchange=exchange, symbol="BTCUSDT", move_price=move_price)


async def test_binance_exchange_with_protocol_check_is_an_exchange() -> None:
    async with running_fake() as fb, adapter_for(fb) as exchange:
        assert isinstance(exchange, BinanceFuturesExchange)
        assert isinstance(exchange, Exchange)


@pytest.mark.parametrize("case", CONTRACT_CASES, ids=case_id)
async def test_contract_with_binance_adapter_over_fake_holds(case: Case) -> None:
    await run_case(binance_harness, case)
