from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest

from apps.risk.domain.circuit_breaker import BreakerAction, BreakerTier, CircuitBreaker
from apps.risk.domain.gate import (
    EntryIntent,
    OpenPosition,
    RiskConfig,
    RiskContext,
    RiskGate,
    RiskRule,
)
from apps.risk.domain.portfolio import correlation_matrix
from apps.risk.domain.sizing import InstrumentFilters, SizingLimits
from apps.risk.domain.vix import CryptoVIX

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)
FILTERS = InstrumentFilters(Decimal("0.001"), Decimal("0.001"), Decimal("5"))
CONFIG = RiskConfig(
    sizing=SizingLimits(Decimal("0.01"), Decimal("5"), Decimal("5"), max_open_positions=2),
    correlation_threshold=0.8,
    daily_loss_limit=Decimal("300"),
)


def intent(symbol="ETHUSDT", direction="LONG", entry="3000", stop="2900") -> EntryIntent:
    return EntryIntent(symbol, direction, Decimal(entry), Decimal(stop), NOW)


def correlated_matrix():
    t = np.arange(100, dtype=np.int64) * 3_600_000
    rng = np.random.default_rng(11)
    common = rng.normal(0, 0.01, 100)
    noise = rng.normal(0, 0.002, (3, 100))
    btc = 60000 * np.exp(np.cumsum(common + noise[0]))
    eth = 3000 * np.exp(np.cumsum(common + noise[1]))
    sol = 150 * np.exp(np.cumsum(rng.normal(0, 0.01, 100)))
    return correlation_matrix({"BTCUSDT": (t, btc), "ETHUSDT": (t, eth), "SOLUSDT": (t, sol)})


def context(**overrides) -> RiskContext:
    args = {"equity": Decimal("10000"), "filters": FILTERS, "correlations": correlated_matrix()}
    args.update(overrides)
    return RiskContext(**args)


def vix_reading(high_vol: bool):
    rng = np.random.default_rng(5)
    sigma = 0.03 if high_vol else 0.002
    closes = 100 * np.exp(np.cumsum(rng.normal(0, sigma, 100)))
    opens = np.concatenate([[100.0], closes[:-1]])
    highs = np.maximum(opens, closes) * (1 + sigma / 2)
    lows = np.minimum(opens, closes) * (1 - sigma / 2)
    return CryptoVIX().score(highs, lows, opens, closes)


def test_gate_with_clean_context_allows_risk_sized_entry():
    decision = RiskGate(CONFIG).evaluate(intent(), context())
    # 10,000 * 1 % / 100 = 1 ETH
    assert decision.allowed
    assert decision.blocked_by is None
    assert decision.quantity == Decimal("1")
    assert decision.notional == Decimal("3000")


def test_gate_with_kill_switch_blocks_first():
    decision = RiskGate(CONFIG).evaluate(
        intent(), context(kill_switch=True, kill_switch_reason="operator halt")
    )
    assert not decision.allowed
    assert decision.blocked_by is RiskRule.KILL_SWITCH
    assert decision.quantity == 0
    assert "operator halt" in decision.reasons[-1]


def test_gate_with_daily_loss_at_limit_blocks():
    decision = RiskGate(CONFIG).evaluate(
        intent(),
        context(equity=Decimal("9700"), daily_realized_pnl=Decimal("-300")),
    )
    assert decision.blocked_by is RiskRule.DAILY_LOSS
    assert decision.reasons[-1] == (
        "daily loss 300.00 USDT >= limit 300.00 USDT (trades closed since 00:00 UTC; "
        "entries resume tomorrow)"
    )


def test_gate_with_daily_loss_below_limit_allows():
    decision = RiskGate(CONFIG).evaluate(intent(), context(daily_realized_pnl=Decimal("-299")))
    assert decision.allowed


def test_gate_without_a_daily_limit_ignores_the_days_losses():
    unlimited = RiskConfig(sizing=CONFIG.sizing, correlation_threshold=0.8)
    decision = RiskGate(unlimited).evaluate(intent(), context(daily_realized_pnl=Decimal("-1e6")))
    assert decision.allowed
    with pytest.raises(ValueError, match="daily_loss_limit must be positive"):
        RiskConfig(daily_loss_limit=Decimal(0))


def test_gate_with_halting_breaker_blocks():
    breaker = CircuitBreaker(
        [BreakerTier("halt", 60, BreakerAction.HALT_ENTRIES, loss_limit=Decimal("200"))]
    )
    breaker.record_pnl(NOW, Decimal("-250"))
    decision = RiskGate(CONFIG).evaluate(
        intent(), context(breaker=breaker.evaluate(NOW, Decimal("10000")))
    )
    assert decision.blocked_by is RiskRule.CIRCUIT_BREAKER
    assert "halt" in decision.reasons[-1]


def test_gate_with_reducing_breaker_and_high_vix_multiplies_size():
    breaker = CircuitBreaker(
        [
            BreakerTier(
                "reduce",
                60,
                BreakerAction.REDUCE_SIZE,
                loss_limit=Decimal("100"),
                size_multiplier=Decimal("0.5"),
            )
        ]
    )
    breaker.record_pnl(NOW, Decimal("-100"))
    vix = vix_reading(high_vol=True)
    assert vix.size_multiplier == Decimal("0.25")
    decision = RiskGate(CONFIG).evaluate(
        intent(), context(breaker=breaker.evaluate(NOW, Decimal("10000")), vix=vix)
    )
    assert decision.allowed
    assert decision.quantity == Decimal("0.125")  # 1 ETH x 0.25 x 0.5


def test_gate_with_calm_vix_keeps_full_size():
    decision = RiskGate(CONFIG).evaluate(intent(), context(vix=vix_reading(high_vol=False)))
    assert decision.quantity == Decimal("1")
    assert any("CryptoVIX" in r for r in decision.reasons)


def test_gate_with_max_open_positions_blocks():
    positions = [
        OpenPosition("SOLUSDT", "LONG", Decimal("1000")),
        OpenPosition("BTCUSDT", "SHORT", Decimal("1000")),
    ]
    decision = RiskGate(CONFIG).evaluate(intent(), context(open_positions=positions))
    assert decision.blocked_by is RiskRule.MAX_OPEN_POSITIONS


def test_gate_with_correlated_open_long_blocks_long():
    positions = [OpenPosition("BTCUSDT", "LONG", Decimal("6000"))]
    decision = RiskGate(CONFIG).evaluate(intent(), context(open_positions=positions))
    assert decision.blocked_by is RiskRule.CORRELATION
    assert "BTCUSDT" in decision.reasons[-1]


def test_gate_with_correlated_open_long_allows_short_hedge():
    positions = [OpenPosition("BTCUSDT", "LONG", Decimal("6000"))]
    decision = RiskGate(CONFIG).evaluate(
        intent(direction="SHORT", stop="3100"), context(open_positions=positions)
    )
    assert decision.allowed
    assert decision.quantity == Decimal("1")


def test_gate_with_exposure_used_up_blocks_at_sizing():
    positions = [OpenPosition("SOLUSDT", "LONG", Decimal("50000"))]
    decision = RiskGate(CONFIG).evaluate(intent(), context(open_positions=positions))
    assert decision.blocked_by is RiskRule.SIZING
    assert "exposure cap reached" in decision.reasons[-1]


def test_gate_with_missing_vix_and_require_vix_blocks():
    config = RiskConfig(sizing=CONFIG.sizing, require_vix=True)
    decision = RiskGate(config).evaluate(intent(), context())
    assert decision.blocked_by is RiskRule.SIZING


@pytest.mark.parametrize(("direction", "stop"), [("LONG", "3100"), ("SHORT", "2900")])
def test_gate_with_stop_on_wrong_side_blocks(direction, stop):
    decision = RiskGate(CONFIG).evaluate(intent(direction=direction, stop=stop), context())
    assert decision.blocked_by is RiskRule.INVALID_INTENT


def test_entry_intent_with_naive_time_raises():
    with pytest.raises(ValueError, match="timezone-aware"):
        EntryIntent("BTCUSDT", "LONG", Decimal(1), Decimal("0.5"), datetime(2024, 1, 1))
