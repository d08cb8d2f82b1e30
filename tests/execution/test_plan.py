"""ExecutionPlan: entry slices plus the protection of what filled."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.exchange.domain.filters import check_order
from apps.exchange.domain.types import OrderType, Side
from apps.execution.domain.partial_exit import BreakEvenRule, PartialExitManager
from apps.execution.domain.plan import ExecutionPlan, StopMode, TrailingMode
from apps.execution.domain.slippage import SlippageConfig, SlippageManager
from apps.execution.domain.trailing import TrailingConfig, stop_client_order_id

D = Decimal


def entry(snapshot, info, side: Side = Side.BUY, qty: str = "3"):
    book, ticker = snapshot
    return SlippageManager(SlippageConfig(max_slippage_bps=D(3))).plan_entry(
        intent_id="bot9-1", book=book, ticker=ticker, side=side, quantity=D(qty), info=info
    )


def test_protection_with_partial_fill_sizes_stop_and_take_profits_on_what_filled(
    snapshot, info
) -> None:
    plan = ExecutionPlan(
        entry=entry(snapshot, info),
        stop_price=D(11500),
        info=info,
        exits=PartialExitManager(
            [(D("0.005"), D("0.5")), (D("0.01"), D("0.5"))], break_even=BreakEvenRule()
        ),
        trailing=TrailingConfig(callback=D("0.01"), activation=D("0.005")),
    )
    protection = plan.protection(filled_qty=D("1.234"), entry_price=D("11657.30"))
    orders = protection.orders
    assert orders[0] is protection.stop  # the stop goes out first
    assert protection.stop.type is OrderType.STOP_MARKET
    assert protection.stop.reduce_only and protection.stop.quantity == D("1.234")
    assert protection.stop.client_order_id == stop_client_order_id("bot9-1", 0)
    assert sum(tp.quantity for tp in protection.take_profits) == D("1.234")
    for order in orders:
        assert order.side is Side.SELL and order.reduce_only
        check_order(info, order)
    trail = plan.trailing_stop(entry_price=D("11657.30"))
    assert trail is not None and trail.stop == D("11500.00") and trail.sequence == 0
    assert plan.preview.stop.quantity == plan.entry.total_qty


def test_protection_with_native_trailing_trails_what_take_profits_leave(snapshot, info) -> None:
    plan = ExecutionPlan(
        entry=entry(snapshot, info, Side.SELL),
        stop_price=D(11800),
        info=info,
        stop_mode=StopMode.CLOSE_POSITION,
        exits=PartialExitManager([(D("0.01"), D("0.6"))]),
        trailing=TrailingConfig(callback=D("0.008")),
        trailing_mode=TrailingMode.NATIVE,
    )
    protection = plan.protection(filled_qty=D(3), entry_price=D("11657.00"))
    assert protection.stop.close_position and protection.stop.quantity is None
    assert protection.native_trailing is not None
    assert protection.native_trailing.quantity == D("1.200")
    assert protection.native_trailing.callback_rate == D("0.800")
    assert protection.orders[-1] is protection.native_trailing
    assert plan.trailing_stop(entry_price=D(11657)) is None


def test_execution_plan_with_stop_on_wrong_side_or_close_position_trailing_raises(
    snapshot, info
) -> None:
    with pytest.raises(ValueError, match="wrong side"):
        ExecutionPlan(entry=entry(snapshot, info), stop_price=D(11700), info=info)
    with pytest.raises(ValueError, match="-4130"):
        ExecutionPlan(
            entry=entry(snapshot, info),
            stop_price=D(11500),
            info=info,
            stop_mode=StopMode.CLOSE_POSITION,
            trailing=TrailingConfig(callback=D("0.01")),
        )


def test_protection_with_later_revision_uses_fresh_client_ids(snapshot, info) -> None:
    plan = ExecutionPlan(
        entry=entry(snapshot, info),
        stop_price=D(11500),
        info=info,
        exits=PartialExitManager([(D("0.005"), D("0.5")), (D("0.01"), D("0.5"))]),
        trailing=TrailingConfig(callback=D("0.01")),
    )
    first = plan.protection(filled_qty=D(1), entry_price=D(11657))
    second = plan.protection(filled_qty=D(3), entry_price=D(11657), revision=1)
    ids = {o.client_order_id for o in first.orders}
    assert len(ids) == len(first.orders)
    assert not ids & {o.client_order_id for o in second.orders}
    trail = plan.trailing_stop(entry_price=D(11657), revision=1)
    assert trail is not None
    update = trail.update(D(11800))
    replace_plan = trail.replace_plan(update, quantity=D(3))
    assert replace_plan.cancel_client_order_id == second.stop.client_order_id
