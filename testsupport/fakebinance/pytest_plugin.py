"""Pytest fixtures for the fake (use with ``pytest_plugins = [...]``; needs pytest-asyncio)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from .server import FakeBinance
from .testing import fb_client


@pytest_asyncio.fixture
async def fake_binance() -> AsyncIterator[FakeBinance]:
    """A running ``FakeBinance(seed=7)`` on a free 127.0.0.1 port, stopped after the test."""
    async with FakeBinance(seed=7) as fb:
        yield fb


@pytest_asyncio.fixture
async def fake_binance_client(fake_binance: FakeBinance) -> AsyncIterator[Any]:
    """A python-binance ``AsyncClient`` created against ``fake_binance``."""
    client = await fb_client(fake_binance)
    try:
        yield client
    finally:
        await client.close_connection()
