from decimal import Decimal

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from apps.risk.domain.sizing import InstrumentFilters, SizingLimits, size_position, snap_down

BTC = InstrumentFilters(
    step_size=Decimal("0.001"), min_qty=Decimal("0.001"), min_notional=Decimal("100")
)
LIMITS = SizingLimits(
    risk_pct=Decimal("0.01"),
    max_leverage=Decimal("3"),
    max_exposure_multiple=Decimal("4"),
    max_open_positions=3,
)


def size(**overrides):
    args = {
        "equity": Decimal("10000"),
        "entry_price": Decimal("60000"),
        "stop_price": Decimal("59000"),
        "limits": LIMITS,
        "filters": BTC,
    }
    args.update(overrides)
    return size_position(**args)


def test_sizing_with_plain_risk_gives_equity_times_risk_over_stop_distance():
    decision = size()
    # 10,000 * 1 % / 1,000 = 0.1 BTC, notional 6,000 (0.6x leverage)
    assert decision.ok
    assert decision.quantity == Decimal("0.1")
    assert decision.notional == Decimal("6000")
    assert decision.risk_amount == Decimal("100")
    assert decision.caps_applied == ()


def test_sizing_with_multipliers_scales_quantity_down():
    decision = size(vix_multiplier=Decimal("0.5"), breaker_multiplier=Decimal("0.5"))
    assert decision.quantity == Decimal("0.025")
    assert any("vix" in c for c in decision.caps_applied)
    assert any("breaker" in c for c in decision.caps_applied)


def test_sizing_with_tight_stop_is_capped_by_leverage():
    decision = size(stop_price=Decimal("59990"))
    # risk size would be 10 BTC = 600,000 notional; 3x leverage caps it at 30,000 -> 0.5 BTC
    assert decision.quantity == Decimal("0.5")
    assert decision.notional == Decimal("30000")
    assert any("leverage cap" in c for c in decision.caps_applied)


def test_sizing_with_open_exposure_is_capped_by_headroom():
    decision = size(stop_price=Decimal("59990"), open_notional=Decimal("37000"))
    # cap 40,000 - 37,000 open = 3,000 headroom -> 0.05 BTC
    assert decision.quantity == Decimal("0.05")
    assert any("exposure cap" in c for c in decision.caps_applied)


def test_sizing_with_exposure_cap_reached_refuses():
    decision = size(open_notional=Decimal("40000"))
    assert not decision.ok
    assert decision.quantity == 0
    assert "exposure cap reached" in decision.refused_reason


def test_sizing_with_max_open_positions_refuses():
    decision = size(open_positions=3)
    assert not decision.ok
    assert "max open positions" in decision.refused_reason


def test_sizing_below_min_notional_refuses():
    decision = size(equity=Decimal("500"))
    # 500 * 1 % / 1,000 = 0.005 BTC = 300 notional: fine; at 100 equity it is 60 < 100
    assert decision.ok
    small = size(equity=Decimal("100"))
    assert not small.ok
    assert small.refused_reason == "notional 60.000 below min notional 100"


def test_sizing_below_min_qty_names_the_figure():
    filters = InstrumentFilters(step_size=Decimal("0.001"), min_qty=Decimal("0.01"))
    decision = size(equity=Decimal("500"), filters=filters)
    assert not decision.ok
    assert decision.refused_reason == "quantity 0.005 below min qty 0.01 (step 0.001)"


def test_sizing_with_stop_equal_to_entry_refuses():
    assert "risk per unit is zero" in size(stop_price=Decimal("60000")).refused_reason


def test_sizing_with_multiplier_out_of_range_raises():
    with pytest.raises(ValueError, match="vix_multiplier must be in"):
        size(vix_multiplier=Decimal("1.5"))


def test_sizing_with_float_equity_raises():
    with pytest.raises(ValueError, match="equity must be a finite Decimal"):
        size(equity=10000.0)


def test_snap_down_rounds_to_step_multiple():
    assert snap_down(Decimal("0.12345"), Decimal("0.001")) == Decimal("0.123")
    assert snap_down(Decimal("7"), Decimal("5")) == Decimal("5")
    assert snap_down(Decimal("0.0009"), Decimal("0.001")) == 0


prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("200000"), places=4)
multipliers = st.one_of(
    st.just(Decimal(1)), st.decimals(min_value=Decimal("0"), max_value=Decimal("1"), places=3)
)


@settings(max_examples=300)
@given(
    equity=st.decimals(min_value=Decimal("50"), max_value=Decimal("10000000"), places=2),
    entry=prices,
    stop_distance=st.decimals(min_value=Decimal("0.0005"), max_value=Decimal("0.5"), places=4),
    short=st.booleans(),
    risk_pct=st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("0.1"), places=4),
    leverage=st.decimals(min_value=Decimal("1"), max_value=Decimal("125"), places=0),
    exposure=st.decimals(min_value=Decimal("0.5"), max_value=Decimal("20"), places=1),
    used=st.decimals(min_value=Decimal("0"), max_value=Decimal("1.1"), places=3),
    step=st.sampled_from([Decimal("1"), Decimal("0.1"), Decimal("0.001"), Decimal("0.00001")]),
    vix=multipliers,
    breaker=multipliers,
)
def test_sizing_with_any_inputs_never_exceeds_caps_or_risk(
    equity, entry, stop_distance, short, risk_pct, leverage, exposure, used, step, vix, breaker
):
    stop = entry * (1 + stop_distance) if short else entry * (1 - stop_distance)
    open_notional = (equity * exposure * used).quantize(Decimal("0.01"))
    limits = SizingLimits(risk_pct, leverage, exposure, max_open_positions=10)
    filters = InstrumentFilters(step_size=step, min_qty=step, min_notional=Decimal("5"))
    decision = size_position(
        equity=equity,
        entry_price=entry,
        stop_price=stop,
        limits=limits,
        filters=filters,
        open_notional=open_notional,
        open_positions=0,
        vix_multiplier=vix,
        breaker_multiplier=breaker,
    )
    if not decision.ok:
        event("refused")
        assert decision.quantity == 0
        return
    event("sized, caps: " + ",".join(c.split()[0] for c in decision.caps_applied))
    qty = decision.quantity
    assert qty > 0
    assert qty % step == 0
    assert qty >= filters.min_qty
    assert decision.notional == qty * entry
    assert decision.notional >= filters.min_notional
    assert qty * abs(entry - stop) <= equity * risk_pct * vix * breaker
    assert qty * entry <= equity * leverage
    assert open_notional + qty * entry <= equity * exposure
