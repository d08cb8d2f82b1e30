"""The Exchange contract suite run against the simulated exchange."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest

from apps.exchange.domain.protocol import Exchange
from apps.exchange.domain.simulated import SimulatedExchange

from ..contract import CONTRACT_CASES, Case, ContractHarness, case_id, run_case
from .conftest import T0, make_exchange, real_btc_candles


@asynccontextmanager
async def simulated_harness() -> AsyncIterator[ContractHarness]:
    ex, feed = make_exchange(balance="10000")
    for c in real_btc_candles(T0, 3):
        feed.feed(c)

    async def move_price(target: Decimal) -> None:
        last = ex.last_price("BTCUSDT")
        assert last is not None
        feed.bar(last, max(last, target), min(last, target), target)

    yield ContractHarness(exchange=ex, symbol="BTCUSDT", move_price=move_price)


def test_simulated_exchange_with_protocol_check_is_an_exchange():
    ex, _ = make_exchange()
    assert isinstance(ex, SimulatedExchange)
    assert isinstance(ex, Exchange)


@pytest.mark.parametrize("case", CONTRACT_CASES, ids=case_id)
async def test_contract_with_simulated_exchange_holds(case: Case):
    await run_case(simulated_harness, case)
