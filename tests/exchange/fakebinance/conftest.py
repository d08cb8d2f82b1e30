from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest_asyncio
from binance import AsyncClient

from apps.exchange.fakebinance import FakeBinance, RateLimitConfig, fb_client


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    async with FakeBinance(seed=7, rate_limits=RateLimitConfig()) as fb:
        yield fb


@pytest_asyncio.fixture
async def client(fake: FakeBinance) -> AsyncIterator[AsyncClient]:
    c = await fb_client(fake)
    try:
        yield c
    finally:
        await c.close_connection()


async def wait_until(predicate: Callable[[], Any], *, within: float = 5.0) -> None:
    """Poll ``predicate`` until it is truthy (a safety net, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


async def recv_until(stream: Any, event: str, *, within: float = 5.0) -> dict[str, Any]:
    """Read messages from a python-binance socket until one has ``e == event``."""

    async def loop() -> dict[str, Any]:
        while True:
            msg = await stream.recv()
            data = msg.get("data", msg) if isinstance(msg, dict) else msg
            if isinstance(data, dict) and data.get("e") == event:
                return data

    return await asyncio.wait_for(loop(), within)


def quick(socket: Any) -> Any:
    """Shorten python-binance's 10 s read timeout so leaving ``async with`` is fast (its read
    loop only notices the exit between messages)."""
    socket.TIMEOUT = 0.1
    return socket
