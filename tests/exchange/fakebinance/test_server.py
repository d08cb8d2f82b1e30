"""REST basics through the real python-binance AsyncClient: connectivity, auth, market data."""

from __future__ import annotations

import gzip
from decimal import Decimal

import pytest
from binance import AsyncClient
from binance.exceptions import BinanceAPIException

from testsupport.fakebinance import FakeBinance, client_class, fb_client
from testsupport.fakebinance.data import default_data_dir

pytestmark = pytest.mark.asyncio


async def test_create_with_redirected_client_syncs_time(fake: FakeBinance) -> None:
    client = await client_class(fake.url).create("fake-api-key", "fake-api-secret")
    try:
        assert abs(client.timestamp_offset) < 5_000
        assert await client.futures_ping() == {}
        assert (await client.futures_time())["serverTime"] > 0
    finally:
        await client.close_connection()


async def test_exchange_info_with_all_symbols_lists_binance_filters(client: AsyncClient) -> None:
    info = await client.futures_exchange_info()
    symbols = {s["symbol"]: s for s in info["symbols"]}
    assert set(symbols) == {
        "BTCUSDT",
        "ETHUSDT",
        "SOLUSDT",
        "BNBUSDT",
        "XRPUSDT",
        "ADAUSDT",
        "DOGEUSDT",
    }
    btc = {f["filterType"]: f for f in symbols["BTCUSDT"]["filters"]}
    assert btc["PRICE_FILTER"]["tickSize"] == "0.10"
    assert btc["LOT_SIZE"]["stepSize"] == "0.001"
    assert btc["MIN_NOTIONAL"]["notional"] == "100"
    assert {"MARKET_LOT_SIZE", "PERCENT_PRICE", "MAX_NUM_ORDERS"} <= set(btc)
    limits = {(r["rateLimitType"], r["interval"]): r["limit"] for r in info["rateLimits"]}
    assert limits[("REQUEST_WEIGHT", "MINUTE")] == 2400
    assert limits[("ORDERS", "SECOND")] == 300


async def test_klines_with_start_time_match_shipped_file(client: AsyncClient) -> None:
    path = default_data_dir() / "futures" / "ETHUSDT-1h.csv.gz"
    with gzip.open(path, "rt") as fh:
        rows = [line.strip().split(",") for line in fh.readlines()[1:4]]
    start = int(rows[0][0])
    klines = await client.futures_klines(symbol="ETHUSDT", interval="1h", startTime=start, limit=3)
    assert [k[0] for k in klines] == [int(r[0]) for r in rows]
    for k, r in zip(klines, rows, strict=True):
        assert [Decimal(x) for x in k[1:5]] == [Decimal(x) for x in r[1:5]]
        assert Decimal(k[5]) == Decimal(r[5])
        assert k[6] == int(r[0]) + 3_600_000 - 1


async def test_klines_with_aggregated_interval_combine_shipped_candles(
    client: AsyncClient,
) -> None:
    hours = await client.futures_klines(symbol="BTCUSDT", interval="1h", limit=8)
    four = await client.futures_klines(
        symbol="BTCUSDT", interval="4h", startTime=hours[0][0], limit=2
    )
    assert four[0][0] == hours[0][0] and four[1][0] == hours[4][0]
    assert Decimal(four[0][2]) == max(Decimal(h[2]) for h in hours[:4])
    assert Decimal(four[0][3]) == min(Decimal(h[3]) for h in hours[:4])
    assert four[0][4] == hours[3][4]


async def test_signed_request_with_wrong_secret_raises_1022(fake: FakeBinance) -> None:
    client = await fb_client(fake, api_secret="not-the-secret")
    try:
        with pytest.raises(BinanceAPIException) as exc:
            await client.futures_account_balance()
        assert exc.value.code == -1022
        assert exc.value.status_code == 400
    finally:
        await client.close_connection()


async def test_signed_request_with_unknown_key_raises_2015(fake: FakeBinance) -> None:
    client = await fb_client(fake, api_key="someone-else")
    try:
        with pytest.raises(BinanceAPIException) as exc:
            await client.futures_account()
        assert exc.value.code == -2015
        assert exc.value.status_code == 401
    finally:
        await client.close_connection()


async def test_signed_request_with_stale_timestamp_raises_1021(client: AsyncClient) -> None:
    client.timestamp_offset -= 60_000
    with pytest.raises(BinanceAPIException) as exc:
        await client.futures_account_balance()
    assert exc.value.code == -1021


async def test_signed_request_with_timestamp_ahead_raises_1021(client: AsyncClient) -> None:
    client.timestamp_offset += 5_000
    with pytest.raises(BinanceAPIException) as exc:
        await client.futures_position_information()
    assert exc.value.code == -1021


async def test_listen_key_with_active_key_returns_same_key(client: AsyncClient) -> None:
    first = await client.futures_stream_get_listen_key()
    assert await client.futures_stream_get_listen_key() == first
    assert await client.futures_stream_keepalive(first) == {"listenKey": first}
    await client.futures_stream_close(first)
    with pytest.raises(BinanceAPIException) as exc:
        await client.futures_stream_keepalive(first)
    assert exc.value.code == -1125


async def test_market_data_with_seeded_price_is_consistent(
    fake: FakeBinance, client: AsyncClient
) -> None:
    ticker = await client.futures_symbol_ticker(symbol="BTCUSDT")
    book = await client.futures_orderbook_ticker(symbol="BTCUSDT")
    depth = await client.futures_order_book(symbol="BTCUSDT", limit=5)
    mark = await client.futures_mark_price(symbol="BTCUSDT")
    assert Decimal(ticker["price"]) == fake.price("BTCUSDT")
    assert Decimal(book["askPrice"]) - Decimal(book["bidPrice"]) == Decimal("0.1")
    assert depth["bids"][0][0] == book["bidPrice"] and len(depth["asks"]) == 5
    assert Decimal(mark["markPrice"]) == fake.price("BTCUSDT")
    assert mark["nextFundingTime"] % (8 * 3_600_000) == 0


async def test_funding_rate_with_symbol_returns_shipped_rates(client: AsyncClient) -> None:
    rows = await client.futures_funding_rate(symbol="BTCUSDT", limit=2)
    assert [r["fundingTime"] for r in rows] == [1759219200000, 1759248000000]
    assert Decimal(rows[-1]["fundingRate"]) == Decimal("0.00002584")


async def test_unknown_symbol_with_public_endpoint_raises_1121(client: AsyncClient) -> None:
    with pytest.raises(BinanceAPIException) as exc:
        await client.futures_klines(symbol="FOOUSDT", interval="1m")
    assert exc.value.code == -1121


async def test_ticker_24h_with_shipped_hours_summarises_last_day(
    fake: FakeBinance, client: AsyncClient
) -> None:
    ticker = await client.futures_ticker(symbol="BTCUSDT")
    hours = await client.futures_klines(symbol="BTCUSDT", interval="1h", limit=24)
    assert Decimal(ticker["openPrice"]) == Decimal(hours[0][1])
    assert Decimal(ticker["highPrice"]) == max(Decimal(h[2]) for h in hours)
    assert Decimal(ticker["volume"]) == sum(Decimal(h[5]) for h in hours)
    assert Decimal(ticker["lastPrice"]) == fake.price("BTCUSDT")
