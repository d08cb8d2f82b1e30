"""The Binance adapter for an exchange account: how a worker reaches a testnet or live account.

``open_exchange(bot)`` is the default ``EXCHANGE_PROVIDER``: an async context manager that
builds ``BinanceFuturesExchange`` inside the running event loop (python-binance's client must be
created there), syncs the clock, and closes the client afterwards. The rate limiter is shared
through Redis when ``REDIS_URL`` is set.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from django.conf import settings

from apps.exchange.binance.adapter import BinanceFuturesExchange
from apps.exchange.binance.config import BinanceConfig
from apps.exchange.models import ExchangeAccount


class OnAccount(Protocol):
    """What the provider needs of a bot: the exchange account it trades on (a ``bots.Bot``,
    typed here without importing the bots app, which sits above the exchange)."""

    @property
    def account(self) -> ExchangeAccount: ...


class NoVenue(ValueError):
    """The account has no exchange to talk to (a paper account, or no keys)."""


def binance_config(account: ExchangeAccount) -> BinanceConfig:
    """The adapter's configuration for a testnet or live account (keys decrypted here only)."""
    if account.environment == ExchangeAccount.Environment.PAPER:
        raise NoVenue(f"{account.name} is a paper account: it trades on the simulated exchange")
    if not account.has_credentials:
        raise NoVenue(f"{account.name} has no API key and secret")
    base = account.base_url.rstrip("/") or None
    stream = None
    if base:  # a local fake Binance serves websockets on the same host and port
        stream = base.replace("https://", "wss://").replace("http://", "ws://") + "/"
    return BinanceConfig(
        api_key=str(account.api_key),
        api_secret=str(account.api_secret),
        environment=account.environment,
        base_url=base,
        stream_url=stream,
        redis_url=settings.REDIS_URL or None,
    )


@asynccontextmanager
async def open_exchange(bot: OnAccount) -> AsyncIterator[BinanceFuturesExchange]:
    exchange = await BinanceFuturesExchange.create(binance_config(bot.account))
    try:
        yield exchange
    finally:
        await exchange.close()
