"""The `signal` strategy: external signals become decisions with defaults from its params."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from apps.exchange.domain.types import Side
from apps.strategies.domain.base import Action, PositionView
from apps.strategies.domain.registry import build_strategy
from apps.strategies.domain.signal import ExternalSignal, SignalRejected, SignalStrategy

D = Decimal
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
LONG = PositionView(Side.BUY, D(100), D(1))
SHORT = PositionView(Side.SELL, D(100), D(1))


def strategy() -> SignalStrategy:
    built = build_strategy("signal", {"default_sl": 0.01, "default_tp": 0.03})
    assert isinstance(built, SignalStrategy)
    return built


def signal(action: str, **extra: object) -> ExternalSignal:
    return ExternalSignal.parse({"action": action, "symbol": "btcusdt", **extra}, time=NOW)


def run(sig: ExternalSignal, position: PositionView | None = None, now: datetime = NOW):
    return strategy().on_signal(
        sig, symbol="BTCUSDT", now=now, reference_price=D(100), position=position
    )


@pytest.mark.parametrize(
    ("action", "position", "expected"),
    [
        ("buy", None, Action.ENTER_LONG),
        ("buy", LONG, None),
        ("buy", SHORT, Action.EXIT_SHORT),
        ("sell", None, Action.ENTER_SHORT),
        ("sell", LONG, Action.EXIT_LONG),
        ("sell", SHORT, None),
        ("close", None, None),
        ("close", LONG, Action.EXIT_LONG),
        ("close", SHORT, Action.EXIT_SHORT),
    ],
)
def test_on_signal_with_action_and_position_maps_to_decision(action, position, expected) -> None:
    decision = run(signal(action), position)
    assert (decision.action if decision else None) is expected


def test_on_signal_with_bare_entry_uses_default_stop_and_target() -> None:
    long = run(signal("buy"))
    assert long is not None
    assert (long.stop_price, long.take_profit) == (D("99.00"), D("103.00"))
    short = run(signal("sell", size="0.5"))
    assert short is not None
    assert (short.stop_price, short.take_profit, short.quantity) == (
        D("101.00"),
        D("97.00"),
        D("0.5"),
    )


def test_on_signal_with_own_stop_and_target_keeps_them() -> None:
    decision = run(signal("BUY", stop_loss="95.5", take_profit=120))
    assert decision is not None
    assert (decision.stop_price, decision.take_profit) == (D("95.5"), D(120))


def test_on_signal_with_stale_foreign_or_inconsistent_signal_rejects() -> None:
    with pytest.raises(SignalRejected, match="61 s old"):
        run(signal("buy"), now=NOW + timedelta(seconds=61))
    with pytest.raises(SignalRejected, match="ETHUSDT"):
        strategy().on_signal(signal("buy"), symbol="ETHUSDT", now=NOW, reference_price=D(100))
    with pytest.raises(SignalRejected, match="wrong side"):
        run(signal("buy", stop_loss=101))
    with pytest.raises(SignalRejected, match="wrong side"):
        run(signal("sell", take_profit=101))


@pytest.mark.parametrize(
    "body",
    [
        {"action": "hold", "symbol": "BTCUSDT"},
        {"action": "buy"},
        {"action": "buy", "symbol": "BTCUSDT", "size": -1},
        {"action": "buy", "symbol": "BTCUSDT", "stop_loss": "abc"},
        {"action": "buy", "symbol": "BTCUSDT", "take_profit": True},
    ],
)
def test_parse_with_malformed_body_rejects(body) -> None:
    with pytest.raises(SignalRejected):
        ExternalSignal.parse(body, time=NOW)
