import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.risk.domain.circuit_breaker import BreakerAction, BreakerTier, CircuitBreaker

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
EQUITY = Decimal("10000")


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def tiers() -> list[BreakerTier]:
    return [
        BreakerTier("warn-15m", 15, BreakerAction.WARN, loss_limit=Decimal("100")),
        BreakerTier(
            "reduce-1h",
            60,
            BreakerAction.REDUCE_SIZE,
            loss_limit=Decimal("200"),
            size_multiplier=Decimal("0.5"),
        ),
        BreakerTier("halt-4h", 240, BreakerAction.HALT_ENTRIES, loss_limit_pct=Decimal("0.03")),
        BreakerTier("flatten-1d", 1440, BreakerAction.FLATTEN, loss_limit_pct=Decimal("0.05")),
    ]


def test_breaker_with_no_losses_is_clear():
    decision = CircuitBreaker(tiers()).evaluate(T0, EQUITY)
    assert not decision.tripped
    assert decision.action is None
    assert decision.size_multiplier == 1
    assert decision.allows_entries


def test_breaker_with_loss_just_below_warn_limit_does_not_trip():
    breaker = CircuitBreaker(tiers())
    breaker.record_pnl(T0, Decimal("-99.99"))
    assert not breaker.evaluate(T0, EQUITY).tripped


def test_breaker_with_loss_at_warn_limit_warns():
    breaker = CircuitBreaker(tiers())
    breaker.record_pnl(T0, Decimal("-60"))
    breaker.record_pnl(T0 + minutes(5), Decimal("-40"))
    decision = breaker.evaluate(T0 + minutes(5), EQUITY)
    assert decision.action is BreakerAction.WARN
    assert decision.tier == "warn-15m"
    assert decision.loss == Decimal("100")
    assert decision.window_minutes == 15
    assert decision.allows_entries
    assert "warn-15m" in decision.reason and "100.00" in decision.reason


def test_breaker_with_losses_spread_beyond_window_does_not_trip():
    breaker = CircuitBreaker(tiers())
    breaker.record_pnl(T0, Decimal("-60"))
    breaker.record_pnl(T0 + minutes(15), Decimal("-40"))
    # the first loss sits exactly at the window's open end: (now - 15 min, now]
    assert not breaker.evaluate(T0 + minutes(15), EQUITY).tripped


def test_breaker_with_gains_in_window_counts_net_loss():
    breaker = CircuitBreaker(tiers())
    breaker.record_pnl(T0, Decimal("-150"))
    breaker.record_pnl(T0 + minutes(1), Decimal("80"))
    decision = breaker.evaluate(T0 + minutes(2), EQUITY)
    assert not decision.tripped
    assert decision.loss == Decimal("70")


def test_breaker_with_loss_at_reduce_limit_reduces_size():
    breaker = CircuitBreaker(tiers())
    breaker.record_pnl(T0, Decimal("-120"))
    breaker.record_pnl(T0 + minutes(40), Decimal("-80"))
    decision = breaker.evaluate(T0 + minutes(40), EQUITY)
    assert decision.action is BreakerAction.REDUCE_SIZE
    assert decision.size_multiplier == Decimal("0.5")
    assert decision.active_tiers == ("reduce-1h",)  # the 15 min window saw only 80
    assert decision.allows_entries


def test_breaker_with_loss_at_pct_limit_halts_entries():
    breaker = CircuitBreaker(tiers())
    for hour in range(3):
        breaker.record_pnl(T0 + timedelta(hours=hour), Decimal("-100"))
    # 300 = 3 % of 10,000 over 4 hours; the 1h tier saw only 100 in its window
    decision = breaker.evaluate(T0 + timedelta(hours=2), EQUITY)
    assert decision.action is BreakerAction.HALT_ENTRIES
    assert decision.limit == Decimal("300")
    assert not decision.allows_entries
    assert decision.size_multiplier == 0
    assert "3% of equity" in decision.reason


def test_breaker_with_pct_limit_scales_with_equity():
    breaker = CircuitBreaker(tiers())
    for hour in range(3):
        breaker.record_pnl(T0 + timedelta(hours=hour), Decimal("-100"))
    # 300 < 3 % of 20,000; only the last 100 inside 15 minutes trips the WARN tier
    assert breaker.evaluate(T0 + timedelta(hours=2), Decimal("20000")).action is BreakerAction.WARN


def test_breaker_with_loss_at_flatten_limit_flattens():
    breaker = CircuitBreaker(tiers())
    for hour in range(0, 20, 4):
        breaker.record_pnl(T0 + timedelta(hours=hour), Decimal("-100"))
    decision = breaker.evaluate(T0 + timedelta(hours=16), EQUITY)
    assert decision.action is BreakerAction.FLATTEN
    assert decision.must_flatten
    assert decision.loss == Decimal("500")


def test_breaker_after_trip_stays_latched_until_cooldown():
    breaker = CircuitBreaker(tiers())
    breaker.record_pnl(T0, Decimal("-100"))
    assert breaker.evaluate(T0, EQUITY).action is BreakerAction.WARN
    breaker.record_pnl(T0 + minutes(1), Decimal("100"))  # loss recovered
    latched = breaker.evaluate(T0 + minutes(14), EQUITY)
    assert latched.action is BreakerAction.WARN
    assert "latched since" in latched.reason
    assert not breaker.evaluate(T0 + minutes(15), EQUITY).tripped


def test_breaker_with_loss_still_over_limit_at_cooldown_retrips():
    tier = BreakerTier(
        "halt", 60, BreakerAction.HALT_ENTRIES, loss_limit=Decimal("50"), cooldown_minutes=10
    )
    breaker = CircuitBreaker([tier])
    breaker.record_pnl(T0, Decimal("-50"))
    assert breaker.evaluate(T0, EQUITY).tripped
    assert breaker.latched["halt"] == T0
    assert breaker.evaluate(T0 + minutes(10), EQUITY).tripped
    assert breaker.latched["halt"] == T0 + minutes(10)
    assert not breaker.evaluate(T0 + minutes(60), EQUITY).tripped


def test_breaker_reset_clears_latch_and_forgets_earlier_losses():
    breaker = CircuitBreaker(tiers())
    breaker.record_pnl(T0, Decimal("-600"))
    assert breaker.evaluate(T0, EQUITY).action is BreakerAction.FLATTEN
    breaker.reset(T0 + minutes(1))
    assert not breaker.evaluate(T0 + minutes(1), EQUITY).tripped
    assert breaker.events == ()


def test_breaker_reset_of_one_tier_keeps_events():
    breaker = CircuitBreaker(tiers())
    breaker.record_pnl(T0, Decimal("-100"))
    breaker.evaluate(T0, EQUITY)
    breaker.reset(T0, tier="warn-15m")
    assert "warn-15m" not in breaker.latched
    assert len(breaker.events) == 1
    with pytest.raises(ValueError, match="unknown breaker tier"):
        breaker.reset(T0, tier="nope")


def test_breaker_with_events_older_than_largest_window_prunes_them():
    breaker = CircuitBreaker(tiers())
    breaker.record_pnl(T0, Decimal("-10"))
    breaker.record_pnl(T0 + minutes(1000), Decimal("-20"))
    breaker.evaluate(T0 + minutes(1440), EQUITY)
    assert [pnl for _, pnl in breaker.events] == [Decimal("-20")]
    breaker.record_pnl(T0 + minutes(3000), Decimal("-5"))
    assert [pnl for _, pnl in breaker.events] == [Decimal("-5")]


def test_breaker_state_round_trips_through_json():
    breaker = CircuitBreaker(tiers())
    breaker.record_pnl(T0, Decimal("-120.55"))
    breaker.record_pnl(T0 + minutes(3), Decimal("-90.10"))
    before = breaker.evaluate(T0 + minutes(3), EQUITY)
    state = json.loads(json.dumps(breaker.to_state()))
    restored = CircuitBreaker.from_state(tiers(), state)
    assert restored.events == breaker.events
    assert restored.latched == breaker.latched
    assert restored.evaluate(T0 + minutes(3), EQUITY) == before
    # the latch survives the restart even after the loss is offset
    restored.record_pnl(T0 + minutes(4), Decimal("500"))
    assert restored.evaluate(T0 + minutes(10), EQUITY).action is BreakerAction.REDUCE_SIZE


def test_breaker_from_state_with_removed_tier_drops_its_latch():
    breaker = CircuitBreaker(tiers())
    breaker.record_pnl(T0, Decimal("-100"))
    breaker.evaluate(T0, EQUITY)
    restored = CircuitBreaker.from_state(tiers()[1:], breaker.to_state())
    assert "warn-15m" not in restored.latched


def test_breaker_from_state_with_bad_version_raises():
    with pytest.raises(ValueError, match="unsupported circuit breaker state version"):
        CircuitBreaker.from_state(tiers(), {"version": 99})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window_minutes": 0, "loss_limit": Decimal(1)}, "window_minutes must be positive"),
        ({"window_minutes": 5, "loss_limit": Decimal(0)}, "loss_limit must be positive"),
        ({"window_minutes": 5}, "exactly one of"),
        (
            {"window_minutes": 5, "loss_limit": Decimal(1), "loss_limit_pct": Decimal("0.1")},
            "exactly one of",
        ),
        ({"window_minutes": 5, "loss_limit_pct": Decimal("1.5")}, "fraction in"),
        (
            {"window_minutes": 5, "loss_limit": Decimal(1), "size_multiplier": Decimal("0.5")},
            "only to REDUCE_SIZE",
        ),
    ],
)
def test_breaker_tier_with_invalid_settings_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BreakerTier("t", action=BreakerAction.WARN, **kwargs)


def test_breaker_tier_reduce_without_multiplier_raises():
    with pytest.raises(ValueError, match="size_multiplier in"):
        BreakerTier("t", 5, BreakerAction.REDUCE_SIZE, loss_limit=Decimal(1))


def test_breaker_with_duplicate_tier_names_raises():
    tier = BreakerTier("same", 5, BreakerAction.WARN, loss_limit=Decimal(1))
    with pytest.raises(ValueError, match="duplicate breaker tier name 'same'"):
        CircuitBreaker([tier, tier])


def test_breaker_with_naive_time_raises():
    with pytest.raises(ValueError, match="timezone-aware"):
        CircuitBreaker(tiers()).record_pnl(datetime(2024, 1, 1), Decimal(-1))


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=3000),
            st.decimals(min_value=-500, max_value=500, places=2),
        ),
        max_size=40,
    )
)
def test_breaker_with_random_events_matches_window_sums(events):
    breaker = CircuitBreaker(tiers())
    events = sorted(events)
    for minute, pnl in events:
        breaker.record_pnl(T0 + minutes(minute), pnl)
    now = T0 + minutes(3000)
    decision = breaker.evaluate(now, EQUITY)
    for tier in tiers():
        net = sum((pnl for m, pnl in events if 3000 - tier.window_minutes < m <= 3000), Decimal(0))
        assert breaker.window_loss(now, tier.window) == max(Decimal(0), -net)
        if -net >= tier.limit_for(EQUITY):
            assert tier.name in decision.active_tiers
    assert all(at > now - minutes(1440) for at, _ in breaker.events)
