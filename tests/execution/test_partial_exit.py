"""PartialExitManager: scale-out orders, their rounding, and the break-even move."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.exchange.domain.filters import check_order, is_multiple
from apps.exchange.domain.types import OrderType, Side, TimeInForce
from apps.execution.domain.partial_exit import (
    BreakEvenRule,
    ExitOrderKind,
    PartialExitManager,
    TakeProfitLevel,
    levels_from_atr,
    validate_levels,
)

from .conftest import btc_info

D = Decimal


def test_plan_with_long_position_places_reduce_only_sells_above_entry() -> None:
    info = btc_info()
    manager = PartialExitManager([(D("0.01"), D("0.5")), (D("0.02"), D("0.5"))])
    orders = manager.plan(
        intent_id="t1", side=Side.BUY, entry_price=D("11657.08"), quantity=D("1.001"), info=info
    )
    assert [o.quantity for o in orders] == [D("0.500"), D("0.501")]  # remainder to the last
    for tp in orders:
        assert tp.order.type is OrderType.LIMIT
        assert tp.order.time_in_force is TimeInForce.GTC
        assert tp.order.side is Side.SELL
        assert tp.order.reduce_only
        assert tp.order.price is not None and tp.order.price >= tp.target_price  # rounds up
        check_order(info, tp.order)
    assert orders[0].target_price == D("11657.08") * D("1.01")
    assert orders[0].order.client_order_id != orders[1].order.client_order_id


def test_plan_with_short_position_and_market_kind_triggers_below_entry() -> None:
    info = btc_info()
    manager = PartialExitManager(
        [(D("0.01"), D("0.3")), (D("0.03"), D("0.3"))], order_kind=ExitOrderKind.TAKE_PROFIT_MARKET
    )
    orders = manager.plan(
        intent_id="t2", side=Side.SELL, entry_price=D(100), quantity=D(1), info=info
    )
    assert [o.quantity for o in orders] == [D("0.300"), D("0.300")]
    for tp in orders:
        assert tp.order.type is OrderType.TAKE_PROFIT_MARKET
        assert tp.order.side is Side.BUY
        assert tp.order.reduce_only
    assert [tp.order.trigger_price for tp in orders] == [D("99.00"), D("97.00")]


def test_plan_with_level_below_min_qty_merges_it_into_the_next() -> None:
    info = btc_info(step_size=D("0.01"), min_qty=D("0.01"))
    manager = PartialExitManager([(D("0.01"), D("0.1")), (D("0.02"), D("0.9"))])
    orders = manager.plan(
        intent_id="t3", side=Side.BUY, entry_price=D(100), quantity=D("0.05"), info=info
    )
    assert [(o.level, o.quantity) for o in orders] == [(1, D("0.05"))]


def test_validate_levels_with_bad_levels_raises_one_line() -> None:
    with pytest.raises(ValueError, match=r"sum to 1\.1"):
        validate_levels([(D("0.01"), D("0.6")), (D("0.02"), D("0.5"))])
    with pytest.raises(ValueError, match="greater than the previous"):
        validate_levels([(D("0.02"), D("0.5")), (D("0.01"), D("0.5"))])
    with pytest.raises(ValueError, match="fraction"):
        validate_levels([(D("0.02"), D(0))])
    with pytest.raises(ValueError, match="at least one"):
        validate_levels([])


def test_levels_from_atr_with_atr_multiples_gives_price_fractions() -> None:
    levels = levels_from_atr([(D(1), D("0.5")), (D(2), D("0.5"))], atr=D(50), entry_price=D(10000))
    assert levels == [TakeProfitLevel(D("0.005"), D("0.5")), TakeProfitLevel(D("0.01"), D("0.5"))]


@settings(max_examples=200, deadline=None)
@given(
    weights=st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=5),
    keep=st.sampled_from([D(1), D("0.75"), D("0.5")]),
    quantity=st.decimals(min_value=D("0.001"), max_value=D(50), places=5),
    step=st.sampled_from([D("0.001"), D("0.01"), D(1)]),
    side=st.sampled_from(list(Side)),
)
def test_plan_with_any_levels_sums_to_at_most_the_position(
    weights, keep, quantity, step, side
) -> None:
    total_w = sum(weights)
    levels = []
    used = D(0)
    for i, w in enumerate(weights):
        frac = (D(w) / D(total_w) * keep).quantize(D("0.0001"), rounding="ROUND_FLOOR")
        used += frac
        levels.append((D("0.01") * (i + 1), frac))
    info = btc_info(step_size=step, min_qty=step, market_step_size=step)
    manager = PartialExitManager(levels)
    orders = manager.plan(
        intent_id="h", side=side, entry_price=D(1000), quantity=quantity, info=info
    )
    sizes = [o.quantity for o in orders]
    total = sum(sizes, D(0))
    assert total <= quantity
    assert all(is_multiple(q, step) and q >= info.min_qty for q in sizes)
    position = (quantity / step).to_integral_value(rounding="ROUND_FLOOR") * step
    expected_total = (position * used / step).to_integral_value(rounding="ROUND_FLOOR") * step
    if expected_total >= info.min_qty:
        assert total == expected_total  # nothing lost to rounding: the remainder is placed
    assert [o.level for o in orders] == sorted({o.level for o in orders})
    for o in orders:
        assert o.order.reduce_only and o.order.side is side.opposite


def test_on_level_filled_with_offset_moves_stop_above_entry_to_cover_fees() -> None:
    info = btc_info()
    manager = PartialExitManager(
        [(D("0.01"), D("0.5")), (D("0.02"), D("0.5"))],
        break_even=BreakEvenRule(after_level=0, offset=D("0.0008")),
    )
    move = manager.on_level_filled(
        0, side=Side.BUY, entry_price=D("11657.08"), info=info, current_stop=D(11400)
    )
    assert move.move
    assert move.new_stop == D("11666.41")  # 11657.08 * 1.0008 = 11666.405664, rounded up
    short = manager.on_level_filled(
        0, side=Side.SELL, entry_price=D("11657.08"), info=info, current_stop=D(11900)
    )
    assert short.move and short.new_stop == D("11647.75")  # 11647.754336 rounded down


def test_on_level_filled_with_stop_already_better_or_disabled_keeps_stop() -> None:
    info = btc_info()
    levels = [(D("0.01"), D("0.5")), (D("0.02"), D("0.5"))]
    manager = PartialExitManager(levels, break_even=BreakEvenRule(after_level=1))
    assert not manager.on_level_filled(0, side=Side.BUY, entry_price=D(100), info=info).move
    later = manager.on_level_filled(
        1, side=Side.BUY, entry_price=D(100), info=info, current_stop=D(101)
    )
    assert not later.move and "already" in later.reason
    through = manager.on_level_filled(
        1, side=Side.BUY, entry_price=D(100), info=info, last_price=D("99.5")
    )
    assert not through.move and "would trigger" in through.reason
    off = PartialExitManager(levels)
    assert not off.on_level_filled(0, side=Side.BUY, entry_price=D(100), info=info).move
    with pytest.raises(ValueError):
        off.on_level_filled(2, side=Side.BUY, entry_price=D(100), info=info)
