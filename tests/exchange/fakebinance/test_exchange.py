"""The exchange core without HTTP: book model, funding, filters, signing."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testsupport.fakebinance import BinanceError, Exchange
from testsupport.fakebinance.accounts import Position
from testsupport.fakebinance.auth import sign, verify
from testsupport.fakebinance.symbols import SPECS


def test_book_with_same_seed_and_prices_is_identical() -> None:
    a, b, c = Exchange(seed=3), Exchange(seed=3), Exchange(seed=4)
    for ex in (a, b, c):
        ex.set_price("ETHUSDT", "2500")
    assert a.market("ETHUSDT").book.asks == b.market("ETHUSDT").book.asks
    assert a.market("ETHUSDT").book.asks != c.market("ETHUSDT").book.asks


def test_book_with_new_price_has_one_tick_spread_and_sorted_levels() -> None:
    ex = Exchange(seed=1)
    ex.set_price("DOGEUSDT", "0.2345678")
    book = ex.market("DOGEUSDT").book
    assert book.best_bid() == Decimal("0.234560")
    assert book.best_ask() == Decimal("0.234570")
    assert [p for p, _ in book.bids] == sorted((p for p, _ in book.bids), reverse=True)
    assert [p for p, _ in book.asks] == sorted(p for p, _ in book.asks)
    assert all(q > 0 for _, q in book.bids + book.asks)


def test_seeded_price_with_shipped_data_is_last_hourly_close() -> None:
    ex = Exchange()
    close_time, close = ex.data.last_close("BTCUSDT")
    assert ex.market("BTCUSDT").last == close
    assert ex.market_time == close_time


def test_funding_with_long_position_across_boundary_pays_shipped_rate() -> None:
    ex = Exchange(seed=1)
    events: list[dict] = []
    ex.user_sinks.append(events.append)
    ex.account.position("BTCUSDT", "BOTH").amt = Decimal("0.5")
    ex.account.position("BTCUSDT", "BOTH").entry = Decimal("100000")
    ex.set_price("BTCUSDT", "100000")
    before = ex.account.wallet
    boundary = ex.next_funding_time()
    ex.advance_time(boundary - ex.market_time)
    rate = ex.data.funding_rate_at("BTCUSDT", boundary)
    assert ex.account.wallet == before - Decimal("0.5") * Decimal("100000") * rate
    funding = [e for e in events if e["e"] == "ACCOUNT_UPDATE"]
    assert funding[-1]["a"]["m"] == "FUNDING_FEE" and funding[-1]["a"]["P"] == []
    ex.advance_time(3_600_000)  # no boundary crossed: nothing more
    assert len([e for e in events if e["e"] == "ACCOUNT_UPDATE"]) == len(funding)


def test_funding_with_replayed_history_uses_rate_of_that_time() -> None:
    ex = Exchange(seed=1)
    times, rates = ex.data.funding("ETHUSDT")
    t = times[-10]
    ex.set_market_time(t - 60_000)
    ex.account.position("ETHUSDT", "BOTH").amt = Decimal("-2")
    before = ex.account.wallet
    ex.set_market_time(t)
    mark = ex.market("ETHUSDT").mark
    assert ex.account.wallet == before + 2 * mark * Decimal(rates[-10])


def test_qty_with_step_coarser_than_precision_raises_4023() -> None:
    spec = replace(SPECS["BTCUSDT"], step_size=Decimal("0.005"))
    with pytest.raises(BinanceError) as exc:
        spec.check_qty(Decimal("0.007"), market=False)
    assert exc.value.code == -4023
    spec.check_qty(Decimal("0.006"), market=False)


def test_qty_above_market_lot_size_raises_4005_for_market_only() -> None:
    spec = SPECS["BTCUSDT"]
    with pytest.raises(BinanceError) as exc:
        spec.check_qty(Decimal("121"), market=True)
    assert exc.value.code == -4005
    spec.check_qty(Decimal("121"), market=False)


def test_verify_with_percent_encoded_body_accepts_signature_over_decoded_text() -> None:
    decoded = "newClientOrderId=a:b/c&timestamp=1000&recvWindow=5000"
    body = "newClientOrderId=a%3Ab%2Fc&timestamp=1000&recvWindow=5000"
    signature = sign("s3cret", decoded)
    params = {"timestamp": "1000", "recvWindow": "5000"}
    verify(
        secret="s3cret",
        query="",
        body=f"{body}&signature={signature}",
        params=params,
        server_time=1500,
    )
    with pytest.raises(BinanceError) as exc:
        verify(
            secret="other",
            query="",
            body=f"{body}&signature={signature}",
            params=params,
            server_time=1500,
        )
    assert exc.value.code == -1022


@pytest.mark.parametrize(
    ("server_time", "ok"), [(1000, True), (5999, True), (7001, False), (0, False)]
)
def test_verify_with_timestamp_window_follows_binance_rule(server_time: int, ok: bool) -> None:
    payload = "timestamp=1000&recvWindow=6000"
    params = {"timestamp": "1000", "recvWindow": "6000"}
    query = f"{payload}&signature={sign('k', payload)}"
    if ok:
        verify(secret="k", query=query, body="", params=params, server_time=server_time)
        return
    with pytest.raises(BinanceError) as exc:
        verify(secret="k", query=query, body="", params=params, server_time=server_time)
    assert exc.value.code == -1021


@settings(max_examples=150, deadline=None)
@given(
    fills=st.lists(
        st.tuples(
            st.integers(min_value=-50, max_value=50).filter(bool),
            st.integers(min_value=1, max_value=10_000),
        ),
        min_size=1,
        max_size=12,
    ),
    exit_price=st.integers(min_value=1, max_value=10_000),
)
def test_position_with_any_fills_then_flat_realizes_net_cash_flow(
    fills: list[tuple[int, int]], exit_price: int
) -> None:
    pos = Position("BTCUSDT", "BOTH")
    realized = Decimal(0)
    cash = Decimal(0)
    for qty, price in fills:
        realized += pos.apply(Decimal(qty), Decimal(price))
        cash -= Decimal(qty) * Decimal(price)
    closing = -pos.amt
    realized += pos.apply(closing, Decimal(exit_price))
    cash -= closing * Decimal(exit_price)
    assert pos.amt == 0 and pos.entry == 0
    assert abs(realized - cash) < Decimal("1e-12")


def test_fill_with_user_sink_emits_trade_lite_order_and_account_updates_in_order() -> None:
    ex = Exchange(seed=1)
    events: list[dict] = []
    ex.user_sinks.append(events.append)
    ex.engine.place({"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"})
    kinds = [(e["e"], e.get("o", {}).get("x")) for e in events]
    assert kinds == [
        ("ORDER_TRADE_UPDATE", "NEW"),
        ("TRADE_LITE", None),
        ("ORDER_TRADE_UPDATE", "TRADE"),
        ("ACCOUNT_UPDATE", None),
    ]


def test_open_orders_with_symbol_at_max_num_orders_raises_2025() -> None:
    ex = Exchange(seed=1)
    ex.account.wallet = Decimal(10**9)
    low = str((ex.market("XRPUSDT").last * Decimal("0.97")).quantize(Decimal("0.0001")))
    order = {
        "symbol": "XRPUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "10",
        "price": low,
    }
    for _ in range(200):
        ex.engine.place(dict(order))
    with pytest.raises(BinanceError) as exc:
        ex.engine.place(dict(order))
    assert exc.value.code == -2025
