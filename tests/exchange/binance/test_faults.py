"""Injected faults at the fake: no order lost, none duplicated, the answer matches the fake."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from apps.exchange.binance import BinanceFuturesExchange
from apps.exchange.domain.errors import IpBannedError
from apps.exchange.domain.types import OrderStatus, Side
from testsupport.fakebinance import FakeBinance, RateLimitConfig

from .conftest import adapter_for, orders_with_client_id, requests_to, running_fake

ORDER = ("POST", "/fapi/v1/order")


def assert_matches_fake(fb: FakeBinance, report, cid: str) -> None:
    (order,) = orders_with_client_id(fb, cid)  # exactly one order per client id
    assert report.client_order_id == cid
    assert report.order_id == order.order_id
    assert report.status.value == ("EXPIRED" if order.status == "EXPIRED" else order.status)
    assert report.filled_qty == order.executed


async def test_read_with_5xx_twice_is_retried_and_answers(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    fake.faults.fail_next("/fapi/v1/ticker/bookTicker", count=2, status=500)
    top = await exchange.get_book_ticker("BTCUSDT")
    assert top.bid_price < top.ask_price
    assert requests_to(fake, "GET", "/fapi/v1/ticker/bookTicker") == 3


async def test_read_with_502_html_is_retried_and_answers(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    fake.faults.fail_next("/fapi/v2/ticker/price", status=502)
    assert (await exchange.get_ticker("ETHUSDT")).price > 0
    assert requests_to(fake, "GET", "/fapi/v2/ticker/price") == 2


async def test_new_order_with_503_after_placing_is_found_not_resent(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    fake.faults.unknown_after_place()
    report = await exchange.place_market_order(
        "ETHUSDT", Side.BUY, Decimal("0.01"), client_order_id="u-503"
    )
    assert report.status is OrderStatus.FILLED
    assert_matches_fake(fake, report, "u-503")
    assert requests_to(fake, *ORDER) == 1


async def test_new_order_with_502_before_placing_is_resent_once_with_same_id(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    fake.faults.fail_next("/fapi/v1/order", status=502, method="POST")
    report = await exchange.place_market_order(
        "ETHUSDT", Side.BUY, Decimal("0.01"), client_order_id="u-502"
    )
    assert_matches_fake(fake, report, "u-502")
    sent = [p for m, path, p in fake.requests if (m, path) == ORDER]
    assert [p["newClientOrderId"] for p in sent] == ["u-502", "u-502"]


async def test_new_order_with_client_timeout_is_found_after_it_lands() -> None:
    async with running_fake() as fb, adapter_for(fb, request_timeout_s=0.2) as exchange:
        fb.faults.delay_next(0.5, "/fapi/v1/order", method="POST")
        report = await exchange.place_market_order(
            "ETHUSDT", Side.BUY, Decimal("0.01"), client_order_id="u-timeout"
        )
        assert report.status is OrderStatus.FILLED
        assert_matches_fake(fb, report, "u-timeout")
        assert requests_to(fb, *ORDER) == 1  # looked up, never re-sent


async def test_new_order_with_timestamp_error_resyncs_and_places_once(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    syncs = exchange.time_sync.syncs
    fake.faults.timestamp_error_next("/fapi/v1/order", method="POST")
    report = await exchange.place_limit_order(
        "BTCUSDT", Side.BUY, Decimal("0.002"), Decimal("100000"), client_order_id="u-1021"
    )
    assert report.status is OrderStatus.NEW
    assert exchange.time_sync.syncs == syncs + 1
    assert_matches_fake(fake, report, "u-1021")
    assert requests_to(fake, *ORDER) == 2


async def test_reads_with_429_wait_retry_after_and_recover() -> None:
    async with running_fake(rate_limits=RateLimitConfig(weight_per_minute=6)) as fb:
        # Put the fake's minute window 1.2 s from its end so Retry-After is short.
        now = fb.exchange.now()
        fb.exchange.clock_offset_ms += 60_000 - now % 60_000 - 1_200
        async with adapter_for(fb) as exchange:  # spends 1 (time)
            prices = [await exchange.get_ticker("BTCUSDT") for _ in range(7)]
            assert len(prices) == 7
            assert exchange.transport.rate_limited == 1
            assert not fb.limiter.banned_until  # it waited instead of insisting
            assert requests_to(fb, "GET", "/fapi/v2/ticker/price") == 8


async def test_calls_with_418_ban_halt_without_sending_until_it_ends(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    await exchange.instrument("BTCUSDT")
    fake.limiter.banned_until["127.0.0.1"] = fake.exchange.now() + 120_000
    with pytest.raises(IpBannedError) as first:
        await exchange.get_ticker("BTCUSDT")
    assert first.value.banned_until is not None
    sent = len(fake.requests)
    with pytest.raises(IpBannedError):
        await exchange.place_market_order("BTCUSDT", Side.BUY, Decimal("0.002"))
    assert len(fake.requests) == sent  # nothing left the process during the ban
    assert math.isclose(first.value.retry_after or 0, 120, abs_tol=2)


async def test_market_order_with_partial_fill_reports_fake_state(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    fake.faults.partial_fill_next("0.4")
    report = await exchange.place_market_order(
        "SOLUSDT", Side.BUY, Decimal("10"), client_order_id="u-part"
    )
    assert report.status is OrderStatus.EXPIRED and report.filled_qty == Decimal(4)
    assert_matches_fake(fake, report, "u-part")


async def test_limit_order_with_partial_fill_reports_partially_filled_then_filled(
    fake: FakeBinance, exchange: BinanceFuturesExchange
) -> None:
    price = fake.price("SOLUSDT") - 1
    fake.faults.partial_fill_next("0.5")
    await exchange.place_limit_order(
        "SOLUSDT", Side.BUY, Decimal("10"), price, client_order_id="u-lpart"
    )
    fake.set_price("SOLUSDT", price - 1)
    state = await exchange.get_order("SOLUSDT", "u-lpart")
    assert state.status is OrderStatus.PARTIALLY_FILLED and state.filled_qty == 5
    assert_matches_fake(fake, state, "u-lpart")
    fake.set_price("SOLUSDT", price - 2)
    assert (await exchange.get_order("SOLUSDT", "u-lpart")).status is OrderStatus.FILLED
