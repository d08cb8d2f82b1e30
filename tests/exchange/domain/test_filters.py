from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.exchange.domain.errors import (
    FilterRejectedError,
    MinNotionalError,
    PriceFilterError,
    QuantityFilterError,
)
from apps.exchange.domain.filters import (
    Rounding,
    check_order,
    is_multiple,
    prepare_order,
    snap_order_price,
    snap_quantity,
    snap_to_step,
)
from apps.exchange.domain.types import OrderRequest, OrderType, Side

from .conftest import btc_info

INFO = btc_info()
steps = st.sampled_from([Decimal(s) for s in ("0.1", "0.001", "0.5", "1", "10", "0.00001", "0.25")])
values = st.decimals(min_value=Decimal("0.00001"), max_value=Decimal("1000000"), places=6)


@given(values, steps, st.sampled_from(list(Rounding)))
def test_snap_to_step_with_any_value_gives_a_multiple(value, step, rounding):
    assert is_multiple(snap_to_step(value, step, rounding), step)


@given(values, steps, st.sampled_from(list(Rounding)))
def test_snap_to_step_with_snapped_value_is_idempotent(value, step, rounding):
    once = snap_to_step(value, step, rounding)
    assert snap_to_step(once, step, rounding) == once


@given(values, steps)
def test_snap_to_step_with_rounding_down_never_increases_and_stays_within_a_step(value, step):
    down = snap_to_step(value, step, Rounding.DOWN)
    assert down <= value
    assert value - down < step


@given(values, steps)
def test_snap_to_step_with_nearest_is_within_half_a_step(value, step):
    assert abs(snap_to_step(value, step, Rounding.NEAREST) - value) <= step / 2


@given(values)
def test_snap_quantity_with_any_qty_never_increases(qty):
    snapped = snap_quantity(INFO, qty)
    assert snapped <= qty
    assert is_multiple(snapped, INFO.step_size)


@given(values)
def test_snap_order_price_with_side_is_passive(price):
    buy = snap_order_price(INFO, price, Side.BUY)
    sell = snap_order_price(INFO, price, Side.SELL)
    assert buy <= price <= sell
    assert is_multiple(buy, INFO.tick_size) and is_multiple(sell, INFO.tick_size)


def test_snap_to_step_with_tick_keeps_binance_friendly_text():
    assert str(snap_to_step(Decimal("42123.456"), Decimal("0.10"))) == "42123.4"
    assert str(snap_to_step(Decimal("0.0123456"), Decimal("0.001"))) == "0.012"


def limit(qty: str, price: str, **kw) -> OrderRequest:
    return OrderRequest("BTCUSDT", Side.BUY, OrderType.LIMIT, Decimal(qty), Decimal(price), **kw)


def test_check_order_with_valid_limit_passes():
    check_order(INFO, limit("0.010", "42000.1"))


def test_check_order_with_price_off_tick_raises_naming_filter():
    with pytest.raises(PriceFilterError, match=r"BTCUSDT: price 42000.15 .*tickSize 0.10"):
        check_order(INFO, limit("0.010", "42000.15"))


def test_check_order_with_qty_off_step_raises():
    with pytest.raises(QuantityFilterError, match=r"stepSize 0\.001 \(LOT_SIZE\)"):
        check_order(INFO, limit("0.0105", "42000"))


def test_check_order_with_market_qty_above_market_max_raises():
    order = OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("150"))
    with pytest.raises(QuantityFilterError, match="MARKET_LOT_SIZE") as info:
        check_order(INFO, order, reference_price=Decimal(42000))
    assert info.value.code == -4005


def test_check_order_with_small_notional_raises_min_notional():
    with pytest.raises(MinNotionalError, match="MIN_NOTIONAL") as info:
        check_order(INFO, limit("0.002", "42000"))
    assert info.value.code == -4164


def test_check_order_with_small_reduce_only_is_exempt_from_min_notional():
    check_order(INFO, limit("0.002", "42000", reduce_only=True))


def test_check_order_with_market_order_values_notional_at_reference_price():
    order = OrderRequest("BTCUSDT", Side.SELL, OrderType.MARKET, Decimal("0.001"))
    with pytest.raises(MinNotionalError):
        check_order(INFO, order, reference_price=Decimal(42000))


def test_check_order_with_price_below_min_price_raises():
    with pytest.raises(PriceFilterError, match="minPrice"):
        check_order(INFO, limit("1", "100.0"))


def test_prepare_order_with_raw_values_snaps_then_passes_check():
    raw = OrderRequest(
        "BTCUSDT",
        Side.SELL,
        OrderType.STOP_MARKET,
        Decimal("0.01234"),
        trigger_price=Decimal("41999.96"),
    )
    snapped = prepare_order(INFO, raw)
    assert snapped.quantity == Decimal("0.012")
    assert snapped.trigger_price == Decimal("42000.0")
    check_order(INFO, snapped)


def test_prepare_order_with_qty_below_one_step_raises_filter_error():
    raw = replace(limit("0.010", "42000"), quantity=Decimal("0.0004"))
    with pytest.raises(FilterRejectedError, match="rounds to 0"):
        prepare_order(INFO, raw)
