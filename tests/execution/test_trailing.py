"""TrailingStop: activation, ratchet, minimum move, place-then-cancel, native trailing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.exchange.domain.filters import check_order
from apps.exchange.domain.types import OrderType, Side
from apps.execution.domain.trailing import (
    StepKind,
    TrailingConfig,
    TrailingStop,
    native_trailing_order,
    stop_client_order_id,
)

from .conftest import btc_info

D = Decimal


def trailing(side: Side = Side.BUY, **kw: object) -> TrailingStop:
    cfg = {"callback": D("0.01"), "activation": D("0.01")}
    cfg.update(kw)  # type: ignore[arg-type]
    initial = D(95) if side is Side.BUY else D(105)
    return TrailingStop(
        TrailingConfig(**cfg),  # type: ignore[arg-type]
        intent_id="bot1-7",
        side=side,
        entry_price=D(100),
        info=btc_info(),
        initial_stop=initial,
    )


def test_update_with_price_below_activation_stays_inactive() -> None:
    ts = trailing()
    update = ts.update(D("100.99"))
    assert not update.active and not update.replace
    assert update.new_stop == D(95)


def test_update_with_price_through_activation_trails_by_callback() -> None:
    ts = trailing()
    update = ts.update(D(102))
    assert update.active and update.replace
    assert update.new_stop == D("100.98")  # 102 * 0.99
    short = trailing(Side.SELL)
    update = short.update(D(98))
    assert update.replace and update.new_stop == D("98.98")


def test_update_with_small_move_below_threshold_does_not_replace() -> None:
    ts = trailing(min_move_bps=D(10))  # 10 bps of ~101 = 0.101
    assert ts.update(D(102)).replace
    small = ts.update(D("102.05"))  # candidate 101.02 (floor of 101.0295), +0.04
    assert not small.replace and small.new_stop == D("100.98")
    big = ts.update(D("102.5"))
    assert big.replace and big.new_stop == D("101.47")


def test_update_with_price_through_stop_reports_triggered_without_replacing() -> None:
    ts = trailing()
    ts.update(D(105))
    hit = ts.update(D("103.9"))
    assert hit.triggered and not hit.replace
    candle = trailing().update_candle(high=D(110), low=D(99), close=D(100))
    assert candle.triggered and not candle.replace  # the close is below the new trail


def test_replace_plan_with_update_places_new_stop_before_cancelling_old() -> None:
    ts = trailing()
    plan = ts.replace_plan(ts.update(D(102)), quantity=D("0.5"))
    kinds = [step.kind for step in plan.steps]
    assert kinds == [StepKind.PLACE, StepKind.CANCEL]
    order = plan.steps[0].order
    assert order is not None
    assert order.type is OrderType.STOP_MARKET and order.reduce_only and not order.close_position
    assert order.side is Side.SELL and order.trigger_price == D("100.98")
    assert order.client_order_id == stop_client_order_id("bot1-7", 1)
    assert plan.cancel_client_order_id == stop_client_order_id("bot1-7", 0)
    check_order(btc_info(), order)
    second = ts.replace_plan(ts.update(D(104)), quantity=D("0.5"))
    assert second.cancel_client_order_id == order.client_order_id
    with pytest.raises(ValueError):
        ts.replace_plan(ts.update(D(104)), quantity=D("0.5"))


def test_replace_plan_without_initial_stop_only_places() -> None:
    ts = TrailingStop(
        TrailingConfig(callback=D("0.02")),
        intent_id="x",
        side=Side.BUY,
        entry_price=D(100),
        info=btc_info(),
    )
    plan = ts.replace_plan(ts.update(D(100)), quantity=D(1))
    assert [s.kind for s in plan.steps] == [StepKind.PLACE]


@settings(max_examples=150, deadline=None)
@given(
    side=st.sampled_from(list(Side)),
    moves=st.lists(st.integers(min_value=-300, max_value=300), min_size=1, max_size=80),
    callback_bps=st.integers(min_value=10, max_value=500),
    activation_bps=st.integers(min_value=0, max_value=300),
    min_ticks=st.integers(min_value=1, max_value=20),
    candles=st.booleans(),
)
def test_trailing_with_random_price_paths_only_ratchets_in_favour(
    side, moves, callback_bps, activation_bps, min_ticks, candles
) -> None:
    ts = TrailingStop(
        TrailingConfig(
            callback=D(callback_bps) / 10_000,
            activation=D(activation_bps) / 10_000,
            min_move_ticks=min_ticks,
        ),
        intent_id="h",
        side=side,
        entry_price=D(1000),
        info=btc_info(),
        initial_stop=D(900) if side is Side.BUY else D(1100),
    )
    price = D(1000)
    placed: list[str] = ["initial"]
    for move in moves:
        before = ts.stop
        price = max(price + D(move) / 10, D(1))
        if candles:
            wiggle = D(abs(move)) / 20
            update = ts.update_candle(price + wiggle, price - wiggle, price)
        else:
            update = ts.update(price)
        assert ts.stop == update.new_stop
        assert before is not None and update.new_stop is not None
        if side is Side.BUY:
            assert update.new_stop >= before
        else:
            assert update.new_stop <= before
        if update.replace:
            assert abs(update.new_stop - before) >= btc_info().tick_size * min_ticks
            plan = ts.replace_plan(update, quantity=D(1))
            steps = plan.steps
            assert steps[0].kind is StepKind.PLACE
            assert steps[-1].kind is StepKind.CANCEL
            assert steps[-1].client_order_id != steps[0].client_order_id
            placed.append(steps[0].client_order_id)
            assert steps[0].order is not None
            trigger = steps[0].order.trigger_price
            assert trigger is not None
            assert (trigger < price) if side is Side.BUY else (trigger > price)
        else:
            assert update.new_stop == before
    assert len(set(placed)) == len(placed)


def test_native_trailing_order_with_rate_outside_binance_range_raises() -> None:
    info = btc_info()
    common = {"intent_id": "n", "side": Side.BUY, "quantity": D(1), "info": info}
    for bad in (D("0.05"), D("10.1"), D(0)):
        with pytest.raises(ValueError, match=r"outside 0\.1\.\.10"):
            native_trailing_order(callback_rate=bad, **common)  # type: ignore[arg-type]
    for good in (D("0.1"), D(10), D("2.5")):
        order = native_trailing_order(callback_rate=good, **common)  # type: ignore[arg-type]
        assert order.type is OrderType.TRAILING_STOP_MARKET
        assert order.side is Side.SELL and order.reduce_only
        assert order.callback_rate == good


def test_native_trailing_order_with_activation_already_passed_raises() -> None:
    info = btc_info()
    with pytest.raises(ValueError, match="trigger at once"):
        native_trailing_order(
            intent_id="n",
            side=Side.BUY,
            quantity=D(1),
            callback_rate=D(1),
            info=info,
            activation_price=D(100),
            last_price=D(101),
        )
    order = native_trailing_order(
        intent_id="n",
        side=Side.SELL,
        quantity=D(1),
        callback_rate=D(1),
        info=info,
        activation_price=D("99.999"),
        last_price=D(101),
    )
    assert order.activation_price == D("100.00") and order.side is Side.BUY


def test_trailing_config_with_bad_values_raises_and_native_rate_is_percent() -> None:
    with pytest.raises(ValueError):
        TrailingConfig(callback=D(0))
    with pytest.raises(ValueError):
        TrailingConfig(callback=D("0.01"), min_move_ticks=0)
    assert TrailingConfig(callback=D("0.015")).native_callback_rate == D("1.5")
    order = trailing(callback=D("0.015")).native_order(quantity=D(1), last_price=D(100))
    assert order.callback_rate == D("1.5") and order.activation_price == D("101.00")
