from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from binance import AsyncClient

from testsupport.fakebinance import FakeBinance, fast_close, next_event, wait_until
from testsupport.fakebinance.pytest_plugin import fake_binance, fake_binance_client

__all__ = ["fake_binance", "fake_binance_client", "quick", "recv_until", "wait_until"]

quick = fast_close
recv_until = next_event


@pytest_asyncio.fixture
async def fake(fake_binance: FakeBinance) -> AsyncIterator[FakeBinance]:
    yield fake_binance


@pytest_asyncio.fixture
async def client(fake_binance_client: AsyncClient) -> AsyncIterator[AsyncClient]:
    yield fake_binance_client
