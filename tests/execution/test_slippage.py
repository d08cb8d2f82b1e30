"""SlippageManager on real Binance futures book snapshots (Tardis sample, 2020-09-01)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.exchange.domain.filters import check_order
from apps.exchange.domain.ids import is_valid_client_order_id
from apps.exchange.domain.types import (
    BookLevel,
    BookTicker,
    OrderBook,
    OrderType,
    Side,
    TimeInForce,
)
from apps.execution.domain.slippage import (
    EntryDone,
    EntryPlan,
    EntryRefused,
    ReferencePrice,
    SlippageConfig,
    SlippageManager,
    book_vwap,
    slippage_bps,
    slippage_report,
)

from .conftest import btc_info

D = Decimal


def manager(bps: str = "2", **kw: object) -> SlippageManager:
    return SlippageManager(SlippageConfig(max_slippage_bps=D(bps), **kw))  # type: ignore[arg-type]


def check_plan_invariants(plan: EntryPlan, book: OrderBook, share: Decimal = Decimal(1)) -> None:
    """Every slice is a valid LIMIT IOC within the limit, never larger than the book shows."""
    info = btc_info()
    levels = book.levels(plan.side)
    taken = D(0)
    prices = []
    for s in plan.slices:
        order = s.order
        assert order.type is OrderType.LIMIT
        assert order.time_in_force is TimeInForce.IOC
        assert order.side is plan.side
        assert not order.reduce_only
        check_order(info, order)  # snapped to tick and step, above minQty and MIN_NOTIONAL
        if plan.side is Side.BUY:
            assert s.price <= plan.limit_price
            visible = sum((lv.qty for lv in levels if lv.price <= s.price), D(0))
        else:
            assert s.price >= plan.limit_price
            visible = sum((lv.qty for lv in levels if lv.price >= s.price), D(0))
        taken += s.quantity
        assert taken <= visible * share  # never more than the book shows up to this price
        prices.append(s.price)
        assert is_valid_client_order_id(s.client_order_id)
    assert prices == sorted(prices, reverse=plan.side is Side.SELL)
    assert plan.planned_qty + plan.unplanned_qty == plan.total_qty - plan.filled_qty
    assert len({s.client_order_id for s in plan.slices}) == len(plan.slices)


def test_plan_entry_with_thin_top_of_book_slices_by_level(snapshot, info) -> None:
    book, ticker = snapshot
    assert book.asks[0].qty < D(5)  # the real top of book is thin for 5 BTC
    plan = manager("2").plan_entry(
        intent_id="bot1-entry-7", book=book, ticker=ticker, side=Side.BUY, quantity=D(5), info=info
    )
    check_plan_invariants(plan, book)
    assert len(plan.slices) >= 2
    assert plan.slices[0].price == book.asks[0].price
    assert plan.slices[0].quantity == book.asks[0].qty
    assert plan.planned_qty == D(5)
    assert plan.reference_price == (ticker.bid_price + ticker.ask_price) / 2
    assert plan.expected_price == book_vwap(book.asks, D(5))
    assert plan.expected_price > book.asks[0].price
    assert D(0) < plan.expected_slippage_bps < D(2)


def test_plan_entry_with_thick_top_of_book_sends_one_slice_at_best(snapshot, info) -> None:
    book, ticker = snapshot
    plan = manager("2").plan_entry(
        intent_id="i", book=book, ticker=ticker, side=Side.BUY, quantity=D("1.5"), info=info
    )
    assert [(s.quantity, s.price) for s in plan.slices] == [(D("1.500"), book.asks[0].price)]
    assert plan.expected_price == book.asks[0].price


def test_plan_entry_with_sell_side_walks_bids_downwards(snapshot, info) -> None:
    book, ticker = snapshot
    plan = manager("3").plan_entry(
        intent_id="i", book=book, ticker=ticker, side=Side.SELL, quantity=D(12), info=info
    )
    check_plan_invariants(plan, book)
    assert plan.slices[0].quantity == book.bids[0].qty
    assert plan.limit_price <= book.bids[0].price


def test_plan_entry_with_depth_share_takes_at_most_that_share(snapshots, info) -> None:
    share = D("0.5")
    for book, ticker in snapshots:
        for side in Side:
            plan = manager("3", max_depth_share=share, max_slices=8).plan_entry(
                intent_id="i", book=book, ticker=ticker, side=side, quantity=D(4), info=info
            )
            check_plan_invariants(plan, book, share)


def test_plan_entry_with_max_slices_merges_the_tail_into_the_last_slice(snapshot, info) -> None:
    book, ticker = snapshot
    plan = manager("5", max_depth_share=D("0.3"), max_slices=2).plan_entry(
        intent_id="i", book=book, ticker=ticker, side=Side.BUY, quantity=D(5), info=info
    )
    check_plan_invariants(plan, book, D("0.3"))
    assert len(plan.slices) == 2


def test_plan_entry_with_same_intent_gives_same_client_ids(snapshot, info) -> None:
    book, ticker = snapshot
    kwargs = {"book": book, "ticker": ticker, "side": Side.BUY, "quantity": D(5), "info": info}
    first = manager().plan_entry(intent_id="bot1-42", **kwargs)
    again = manager().plan_entry(intent_id="bot1-42", **kwargs)
    other = manager().plan_entry(intent_id="bot1-43", **kwargs)
    ids = [s.client_order_id for s in first.slices]
    assert ids == [s.client_order_id for s in again.slices]
    assert not set(ids) & {s.client_order_id for s in other.slices}


def test_plan_entry_with_best_beyond_max_slippage_refuses_in_one_line(snapshot, info) -> None:
    book, ticker = snapshot
    with pytest.raises(EntryRefused, match="beyond max slippage 0 bps") as caught:
        manager("0").plan_entry(
            intent_id="i", book=book, ticker=ticker, side=Side.BUY, quantity=D(1), info=info
        )
    assert "\n" not in str(caught.value)


def test_plan_entry_with_per_call_max_slippage_overrides_config(snapshot, info) -> None:
    book, ticker = snapshot
    plan = manager("0").plan_entry(
        intent_id="i",
        book=book,
        ticker=ticker,
        side=Side.BUY,
        quantity=D(1),
        info=info,
        max_slippage_bps=D(1),
    )
    assert plan.max_slippage_bps == D(1)
    assert plan.limit_price == D("11658.24")  # 11657.075 * 1.0001 = 11658.2407..., rounded down


def test_plan_entry_with_best_reference_and_zero_bps_takes_only_the_touch(snapshot, info) -> None:
    book, ticker = snapshot
    plan = manager("0", reference=ReferencePrice.BEST).plan_entry(
        intent_id="i", book=book, ticker=ticker, side=Side.BUY, quantity=D(5), info=info
    )
    assert [s.price for s in plan.slices] == [book.asks[0].price]
    assert plan.unplanned_qty == D(5) - book.asks[0].qty


def test_plan_entry_with_quantity_below_min_notional_refuses(snapshot) -> None:
    book, ticker = snapshot
    with pytest.raises(EntryRefused, match="MIN_NOTIONAL"):
        manager().plan_entry(
            intent_id="i",
            book=book,
            ticker=ticker,
            side=Side.BUY,
            quantity=D("0.005"),
            info=btc_info(min_notional=D(100)),
        )
    with pytest.raises(EntryRefused, match="minQty"):
        manager().plan_entry(
            intent_id="i",
            book=book,
            ticker=ticker,
            side=Side.BUY,
            quantity=D("0.0004"),
            info=btc_info(),
        )


def test_plan_entry_with_first_slice_below_min_notional_refuses(info) -> None:
    # Only a dust level within the limit: the first slice could not be a valid order.
    book = OrderBook.from_levels(
        "BTCUSDT", [(D(100), D(5))], [(D("100.01"), D("0.01")), (D(200), D(5))]
    )
    ticker = BookTicker("BTCUSDT", D(100), D(5), D("100.01"), D("0.01"))
    with pytest.raises(EntryRefused, match="first slice below"):
        manager("10").plan_entry(
            intent_id="i", book=book, ticker=ticker, side=Side.BUY, quantity=D(1), info=info
        )


def test_plan_entry_with_crossed_or_foreign_quote_refuses(snapshot, info) -> None:
    book, ticker = snapshot
    crossed = replace(ticker, bid_price=ticker.ask_price)
    with pytest.raises(EntryRefused, match="crossed"):
        manager().plan_entry(
            intent_id="i", book=book, ticker=crossed, side=Side.BUY, quantity=D(1), info=info
        )
    with pytest.raises(ValueError, match="ETHUSDT"):
        manager().plan_entry(
            intent_id="i",
            book=book,
            ticker=replace(ticker, symbol="ETHUSDT"),
            side=Side.BUY,
            quantity=D(1),
            info=info,
        )


def test_plan_after_fills_with_unplanned_rest_plans_next_round(snapshot, info) -> None:
    book, ticker = snapshot
    first = manager("2").plan_entry(
        intent_id="i", book=book, ticker=ticker, side=Side.BUY, quantity=D(40), info=info
    )
    assert first.unplanned_qty > 0
    # The slices filled; the book refilled the same way (a fresh snapshot with the same levels).
    nxt = manager("2").plan_after_fills(first, filled_qty=first.planned_qty, book=book, info=info)
    assert isinstance(nxt, EntryPlan)
    assert nxt.round == 1
    assert nxt.filled_qty == first.planned_qty
    assert nxt.reference_price == first.reference_price
    assert nxt.limit_price == first.limit_price
    check_plan_invariants(nxt, book)
    assert not {s.client_order_id for s in nxt.slices} & {s.client_order_id for s in first.slices}


def test_plan_after_fills_with_book_moved_beyond_limit_stops_with_reason(snapshot, info) -> None:
    book, ticker = snapshot
    first = manager("2").plan_entry(
        intent_id="i", book=book, ticker=ticker, side=Side.BUY, quantity=D(40), info=info
    )
    moved = OrderBook(
        "BTCUSDT",
        book.bids,
        tuple(BookLevel(lv.price * D("1.001"), lv.qty) for lv in book.asks),
    )
    done = manager("2").plan_after_fills(first, filled_qty=D(1), book=moved, info=info)
    assert isinstance(done, EntryDone)
    assert "beyond max slippage" in done.reason
    assert done.filled_qty == D(1)
    assert done.remaining_qty == D(39)
    assert not done.complete


def test_plan_after_fills_with_rounds_spent_or_filled_stops(snapshot, info) -> None:
    book, ticker = snapshot
    m = manager("2", max_rounds=2)
    plan = m.plan_entry(
        intent_id="i", book=book, ticker=ticker, side=Side.BUY, quantity=D(40), info=info
    )
    plan = m.plan_after_fills(plan, filled_qty=D(1), book=book, info=info)
    assert isinstance(plan, EntryPlan)
    done = m.plan_after_fills(plan, filled_qty=D(1), book=book, info=info)
    assert isinstance(done, EntryDone)
    assert "round(s) spent" in done.reason
    small = m.plan_entry(
        intent_id="j", book=book, ticker=ticker, side=Side.BUY, quantity=D(1), info=info
    )
    filled = m.plan_after_fills(small, filled_qty=D(1), book=book, info=info)
    assert isinstance(filled, EntryDone) and filled.complete
    dust = m.plan_after_fills(small, filled_qty=D("0.9995"), book=book, info=info)
    assert isinstance(dust, EntryDone) and "below minQty" in dust.reason
    with pytest.raises(ValueError):
        m.plan_after_fills(small, filled_qty=D(2), book=book, info=info)


def test_slippage_bps_with_worse_price_is_positive_for_both_sides() -> None:
    assert slippage_bps(Side.BUY, D(100), D("100.1")) == D(10)
    assert slippage_bps(Side.BUY, D(100), D("99.9")) == D(-10)
    assert slippage_bps(Side.SELL, D(100), D("99.9")) == D(10)
    assert slippage_bps(Side.SELL, D(100), D("100.1")) == D(-10)
    assert slippage_bps(Side.BUY, D(100), D(100)) == 0
    with pytest.raises(ValueError):
        slippage_bps(Side.BUY, D(0), D(1))


@given(
    expected=st.decimals(min_value=D("0.0001"), max_value=D(10**6), places=4),
    achieved=st.decimals(min_value=D("0.0001"), max_value=D(10**6), places=4),
)
def test_slippage_bps_with_any_prices_is_antisymmetric_between_sides(expected, achieved) -> None:
    buy = slippage_bps(Side.BUY, expected, achieved)
    sell = slippage_bps(Side.SELL, expected, achieved)
    assert buy == -sell
    assert (buy > 0) == (achieved > expected)


def test_slippage_report_with_fills_measures_against_expected_and_reference(snapshot, info) -> None:
    book, ticker = snapshot
    plan = manager("2").plan_entry(
        intent_id="i", book=book, ticker=ticker, side=Side.BUY, quantity=D(5), info=info
    )
    fills = [(s.quantity, s.price) for s in plan.slices]
    report = slippage_report(plan, fills)
    assert report.filled_qty == D(5)
    assert report.average_price == plan.expected_price  # filled exactly as the book showed
    assert report.vs_expected_bps == 0
    assert report.vs_reference_bps == plan.expected_slippage_bps


@settings(max_examples=150, deadline=None)
@given(
    levels=st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=400), st.integers(min_value=1, max_value=3000)
        ),
        min_size=1,
        max_size=25,
        unique_by=lambda lv: lv[0],
    ),
    quantity=st.integers(min_value=1, max_value=20_000),
    bps=st.integers(min_value=0, max_value=50),
    share=st.sampled_from([D(1), D("0.5"), D("0.25")]),
    max_slices=st.integers(min_value=1, max_value=6),
    side=st.sampled_from(list(Side)),
)
def test_plan_entry_with_random_books_keeps_slices_within_book_and_limit(
    levels, quantity, bps, share, max_slices, side
) -> None:
    mid = D(10_000)
    tick = D("0.01")
    sign = side.sign
    ours = [(mid + sign * (D(n) * tick), D(q) / 1000) for n, q in levels]
    theirs = [(mid - sign * (D(n) * tick), D(q) / 1000) for n, q in levels]
    asks, bids = (ours, theirs) if side is Side.BUY else (theirs, ours)
    book = OrderBook.from_levels("BTCUSDT", bids, asks)
    ticker = BookTicker(
        "BTCUSDT", book.bids[0].price, book.bids[0].qty, book.asks[0].price, book.asks[0].qty
    )
    m = manager(str(bps), max_depth_share=share, max_slices=max_slices)
    try:
        plan = m.plan_entry(
            intent_id="h",
            book=book,
            ticker=ticker,
            side=side,
            quantity=D(quantity) / 1000,
            info=btc_info(),
        )
    except EntryRefused as refused:
        assert "\n" not in str(refused)
        return
    check_plan_invariants(plan, book, share)
    assert 1 <= len(plan.slices) <= max_slices
    assert plan.unplanned_qty >= 0
