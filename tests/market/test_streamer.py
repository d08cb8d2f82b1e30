"""The market-data streamer against the fake Binance server's websockets."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from apps.exchange.binance.adapter import BinanceFuturesExchange
from apps.exchange.binance.config import BinanceConfig
from apps.exchange.binance.streams import StreamConfig
from apps.market.cache import book_ticker_get, candles_latest
from apps.market.models import Kline
from apps.market.streamer import stream_market
from testsupport.fakebinance.testing import running_fake_binance, wait_until

MINUTE = 60_000
S = 1_750_000_000_000 // MINUTE * MINUTE  # inside the shipped BTCUSDT 1m data
FAST = StreamConfig(reconnect_base_s=0.3, reconnect_max_s=1.0, read_timeout_s=0.1)


@pytest.mark.django_db(transaction=True)
async def test_streamer_with_closed_candle_and_price_move_stores_both() -> None:
    async with running_fake_binance(api_key="k", api_secret="s") as fake:
        exchange = await BinanceFuturesExchange.create(
            BinanceConfig(api_key="k", api_secret="s", base_url=fake.url, stream_url=fake.ws_url)
        )
        stop = asyncio.Event()
        task = asyncio.create_task(
            stream_market(
                exchange=exchange, symbols=["BTCUSDT"], interval="1m", stop=stop, config=FAST
            )
        )
        try:
            await wait_until(lambda: len(fake.hub.connections) >= 2)
            fake.exchange.replay("BTCUSDT", "1m", start=S, count=1)
            fake.set_price("BTCUSDT", "100000")
            count = sync_to_async(
                lambda: Kline.objects.filter(symbol="BTCUSDT", interval="1m", open_time=S).count()
            )
            for _ in range(100):
                if await count() and book_ticker_get(symbol="BTCUSDT"):
                    break
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            stats = await task
            await exchange.close()
    assert stats.candles >= 1 and stats.book_tickers >= 1
    assert await count() == 1
    row = await sync_to_async(Kline.objects.get)(symbol="BTCUSDT", interval="1m", open_time=S)
    cached = candles_latest(symbol="BTCUSDT", interval="1m")
    assert int(cached.open_time[-1]) == S and float(row.close) == cached.close[-1]
    top = book_ticker_get(symbol="BTCUSDT")
    assert top is not None and top.bid_price == Decimal("100000.00")
    assert datetime.fromtimestamp(S / 1000, tz=UTC).year == 2025
    await sync_to_async(connections.close_all)()


@pytest.mark.django_db
def test_stream_market_command_with_paper_account_refuses_in_one_line() -> None:
    from django.core.management import CommandError, call_command

    from apps.exchange.models import ExchangeAccount

    ExchangeAccount.objects.create(name="paper-only", environment="paper")
    with pytest.raises(CommandError, match="paper-only is a paper account"):
        call_command("stream_market", account="paper-only", symbols=["BTCUSDT"])
    with pytest.raises(CommandError, match="no exchange account named 'nope'"):
        call_command("stream_market", account="nope", symbols=["BTCUSDT"])
