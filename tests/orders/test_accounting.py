"""The pure fill arithmetic agrees with the simulated exchange's ledger, and its edge cases."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.exchange.domain.simulated.ledger import Ledger
from apps.exchange.domain.types import Side
from apps.orders.domain.accounting import (
    bot_client_id_prefix,
    bot_client_order_id,
    position_apply_fill,
    slippage_bps,
    trade_roi_percent,
)

D = Decimal
fills = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(1, 50).map(lambda n: D(n) / 1000),
        st.integers(500_000, 700_000).map(lambda n: D(n) / 10),
    ),
    min_size=1,
    max_size=30,
)


@given(fills)
def test_position_apply_fill_with_any_fill_sequence_matches_simulator_ledger(seq) -> None:
    ledger = Ledger(wallet=D(0), maintenance_margin_rate=D("0.004"), default_leverage=3)
    qty, entry, realized = D(0), D(0), D(0)
    for side, fill_qty, price in seq:
        venue_realized = ledger.apply_fill("BTCUSDT", side, fill_qty, price)
        change = position_apply_fill(
            qty=qty, entry=entry, side=side, fill_qty=fill_qty, price=price
        )
        qty, entry, realized = change.qty_after, change.entry_after, realized + change.realized_pnl
        pos = ledger.position("BTCUSDT")
        assert qty == pos.qty
        assert abs(entry - pos.entry) < D("1E-10")
        assert abs(change.realized_pnl - venue_realized) <= D("1E-8")
        assert change.closed_qty + change.opened_qty == fill_qty
    assert abs(realized - ledger.wallet) <= D("1E-8") * len(seq)


def test_position_apply_fill_with_flip_closes_then_opens_at_fill_price() -> None:
    change = position_apply_fill(
        qty=D("0.010"), entry=D("60000"), side=Side.SELL, fill_qty=D("0.015"), price=D("60100")
    )
    assert (change.closed_qty, change.opened_qty, change.realized_pnl) == (
        D("0.010"),
        D("0.005"),
        D("1"),
    )
    assert (change.qty_after, change.entry_after) == (D("-0.005"), D("60100"))
    assert change.closes and change.opens and change.flips


def test_position_apply_fill_with_non_positive_quantity_raises() -> None:
    with pytest.raises(ValueError, match="positive quantity"):
        position_apply_fill(qty=D(0), entry=D(0), side=Side.BUY, fill_qty=D(0), price=D(1))


def test_slippage_bps_with_worse_price_is_positive_for_both_sides() -> None:
    assert slippage_bps(side=Side.BUY, expected=D(100), achieved=D("100.5")) == D("50")
    assert slippage_bps(side=Side.SELL, expected=D(100), achieved=D("99.5")) == D("50")
    assert slippage_bps(side=Side.SELL, expected=D(100), achieved=D("100.5")) == D("-50")
    assert slippage_bps(side=Side.BUY, expected=D(0), achieved=D(1)) is None


def test_trade_roi_percent_with_leverage_divides_by_margin() -> None:
    # 0.01 BTC at 60000, 3x: margin 200; net +10 -> 5 %.
    assert trade_roi_percent(
        net_pnl=D(10), entry_price=D(60000), quantity=D("0.01"), leverage=3
    ) == D("5")
    assert trade_roi_percent(net_pnl=D(1), entry_price=D(0), quantity=D(1), leverage=3) is None


def test_bot_client_order_id_with_any_intent_starts_with_bot_prefix() -> None:
    cid = bot_client_order_id(12, "1000SHIBUSDT", "take_profit", 3)
    assert cid.startswith(bot_client_id_prefix(12))
    assert not cid.startswith(bot_client_id_prefix(1))
    assert len(cid) <= 36
    assert cid == bot_client_order_id(12, "1000SHIBUSDT", "take_profit", "3")


def test_bot_client_id_prefix_with_nested_engine_intent_still_matches() -> None:
    from apps.exchange.domain.ids import client_order_id
    from apps.trading.domain.cycle import intent_id

    nested = client_order_id(intent_id("b12", "BTCUSDT", 1704067200000, "entry"), "en", 0, 0)
    assert nested.startswith(bot_client_id_prefix(12))
    assert not nested.startswith(bot_client_id_prefix(1))
