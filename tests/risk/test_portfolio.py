import numpy as np
import pytest

from apps.risk.domain.portfolio import (
    PortfolioManager,
    align_closes,
    check_entry,
    correlation_matrix,
)
from apps.risk.domain.types import Direction

LONG, SHORT = Direction.LONG, Direction.SHORT


def real_series(futures_1h, symbols, end):
    return {
        s: (futures_1h(s, end).open_time.to_numpy(), futures_1h(s, end).close.to_numpy())
        for s in symbols
    }


def test_correlation_with_real_btc_eth_is_high(futures_1h):
    matrix = correlation_matrix(real_series(futures_1h, ["BTCUSDT", "ETHUSDT"], "2022-06-20"))
    assert matrix.returns_used == 99
    assert matrix.get("BTCUSDT", "ETHUSDT") > 0.9
    assert matrix.get("BTCUSDT", "BTCUSDT") == pytest.approx(1.0)


def test_gate_with_btc_long_open_blocks_eth_long(futures_1h):
    matrix = PortfolioManager().correlation_matrix(
        real_series(futures_1h, ["BTCUSDT", "ETHUSDT"], "2022-06-20")
    )
    decision = PortfolioManager(threshold=0.8).check_entry(
        "ETHUSDT", LONG, [("BTCUSDT", LONG)], matrix
    )
    assert not decision.allowed
    assert decision.blocking_symbol == "BTCUSDT"
    assert decision.correlation == pytest.approx(matrix.get("ETHUSDT", "BTCUSDT"))
    assert f"{decision.correlation:+.3f}" in decision.reason


def test_gate_with_btc_long_open_allows_eth_short_hedge(futures_1h):
    matrix = correlation_matrix(real_series(futures_1h, ["BTCUSDT", "ETHUSDT"], "2022-06-20"))
    decision = check_entry("ETHUSDT", SHORT, [("BTCUSDT", LONG)], matrix, threshold=0.8)
    assert decision.allowed
    assert decision.blocking_symbol is None
    assert f"{decision.correlation:+.3f}" in decision.reason


def test_gate_with_low_correlation_pair_passes_high_threshold(futures_1h):
    # July 2023: XRP decoupled from BTC after its court ruling
    matrix = correlation_matrix(real_series(futures_1h, ["BTCUSDT", "XRPUSDT"], "2023-07-20"))
    corr = matrix.get("BTCUSDT", "XRPUSDT")
    assert corr < 0.6
    decision = check_entry("XRPUSDT", LONG, [("BTCUSDT", LONG)], matrix, threshold=0.8)
    assert decision.allowed
    assert f"{corr:+.3f}" in decision.reason


def test_gate_with_negative_correlation_opposite_directions_blocks():
    t = np.arange(101, dtype=np.int64) * 3_600_000
    rng = np.random.default_rng(7)
    r = rng.normal(0, 0.01, 100)
    a = 100 * np.exp(np.concatenate([[0], np.cumsum(r)]))
    b = 100 * np.exp(np.concatenate([[0], np.cumsum(-r)]))
    matrix = correlation_matrix({"A": (t, a), "B": (t, b)})
    assert matrix.get("A", "B") == pytest.approx(-1.0)
    assert not check_entry("A", LONG, [("B", SHORT)], matrix).allowed
    assert check_entry("A", LONG, [("B", LONG)], matrix).allowed


def test_gate_with_same_symbol_same_direction_blocks_stacking():
    decision = check_entry("BTCUSDT", LONG, [("BTCUSDT", "LONG")], None)
    assert not decision.allowed
    assert decision.correlation == 1.0


def test_gate_with_missing_pair_blocks_by_default_and_allows_when_configured():
    t = np.arange(50, dtype=np.int64)
    rng = np.random.default_rng(1)
    matrix = correlation_matrix({"A": (t, 100 + rng.random(50)), "B": (t, 100 + rng.random(50))})
    assert not check_entry("C", LONG, [("A", LONG)], matrix).allowed
    assert check_entry("C", LONG, [("A", LONG)], matrix, block_on_missing=False).allowed


def test_gate_with_no_open_positions_allows():
    decision = check_entry("ETHUSDT", LONG, [], None)
    assert decision.allowed
    assert decision.correlation is None


def test_align_closes_with_gaps_uses_intersection_of_times():
    symbols, times, closes = align_closes(
        {
            "A": (np.array([1, 2, 3, 4, 5]), np.array([10.0, 11, 12, 13, 14])),
            "B": (np.array([2, 3, 5, 6]), np.array([20.0, 21, 22, 23])),
        },
        lookback=100,
    )
    assert symbols == ("A", "B")
    assert times.tolist() == [2, 3, 5]
    assert closes.tolist() == [[11, 20], [12, 21], [14, 22]]


def test_correlation_with_constant_series_is_nan_and_does_not_block():
    t = np.arange(40, dtype=np.int64)
    rng = np.random.default_rng(3)
    matrix = correlation_matrix({"A": (t, np.full(40, 5.0)), "B": (t, 100 + rng.random(40))})
    assert np.isnan(matrix.get("A", "B"))
    assert matrix.as_dict()["A"]["B"] is None
    assert check_entry("B", LONG, [("A", LONG)], matrix).allowed


def test_correlation_with_too_few_common_candles_raises():
    with pytest.raises(ValueError, match="common returns"):
        correlation_matrix(
            {
                "A": (np.arange(30), np.ones(30) + np.arange(30)),
                "B": (np.arange(25, 60), np.ones(35)),
            }
        )


def test_align_closes_with_unsorted_times_raises():
    with pytest.raises(ValueError, match="strictly ascending"):
        align_closes({"A": (np.array([2, 1]), np.array([1.0, 2.0]))}, lookback=10)
