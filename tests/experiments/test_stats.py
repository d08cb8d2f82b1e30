"""The A/B test on daily returns (pure): power on a planted difference, the error rate on
identical variants, variants without trades, and the daily returns themselves."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest

from apps.core.domain.metrics import sharpe_ratio
from apps.experiments.domain.stats import (
    DAYS_PER_YEAR,
    compare_daily_returns,
    daily_returns,
    day_range,
)


def _market_pair(seed: int, days: int, edge_b: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Two variants on the same market: a shared daily move plus each one's own noise; B earns
    ``edge_b`` more per day."""
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0, 0.02, days)
    a = market + rng.normal(0.0005, 0.01, days)
    b = market + rng.normal(0.0005 + edge_b, 0.01, days)
    return a, b


def test_compare_with_planted_difference_calls_b_better() -> None:
    a, b = _market_pair(seed=7, days=120, edge_b=0.004)
    result = compare_daily_returns(a, b, seed=1)
    assert result.significant and result.better == "B"
    assert result.verdict == "B is better than A with 95 % confidence"
    assert result.sharpe_diff is not None and result.mean_diff is not None
    assert result.sharpe_diff.ci_low > 0 and result.mean_diff.ci_low > 0
    assert result.sharpe_diff.p_value < Decimal("0.05")
    assert result.more_days_needed is None


def test_compare_with_planted_difference_for_a_calls_a_better() -> None:
    b, a = _market_pair(seed=8, days=120, edge_b=0.004)
    result = compare_daily_returns(a, b, label_a="control", label_b="wider-stop", seed=3)
    assert result.better == "control"
    assert result.verdict == "control is better than wider-stop with 95 % confidence"
    assert result.sharpe_diff is not None and result.sharpe_diff.ci_high < 0


def test_compare_at_99_percent_needs_a_p_value_below_one_percent() -> None:
    a, b = _market_pair(seed=9, days=60, edge_b=0.003)
    at95 = compare_daily_returns(a, b, seed=2)
    at99 = compare_daily_returns(a, b, seed=2, confidence=Decimal("0.99"))
    assert at95.sharpe_diff is not None and at99.sharpe_diff is not None
    assert at95.sharpe_diff.p_value == at99.sharpe_diff.p_value  # the seed, not the level
    p = at99.sharpe_diff.p_value
    assert at99.significant == (p < Decimal("0.01")) and at95.significant == (p < Decimal("0.05"))
    assert "99 %" in at99.verdict
    width95 = at95.sharpe_diff.ci_high - at95.sharpe_diff.ci_low
    assert at99.sharpe_diff.ci_high - at99.sharpe_diff.ci_low > width95


def test_compare_identical_variants_false_positive_rate_is_at_most_the_stated_error() -> None:
    """300 seeded experiments of two variants of one strategy (same market, own noise): the
    95 % test may call them different in about 5 % of them; allowed up to 7 %."""
    runs = 300
    called = 0
    for seed in range(runs):
        a, b = _market_pair(seed=10_000 + seed, days=40)
        called += compare_daily_returns(a, b, resamples=200, seed=seed).significant
    rate = called / runs
    assert rate <= 0.07, f"{called} of {runs} identical pairs called different"


def test_compare_small_difference_says_how_many_more_days() -> None:
    a, b = _market_pair(seed=11, days=30, edge_b=0.001)
    result = compare_daily_returns(a, b, seed=0)
    assert not result.significant and result.better is None
    assert result.more_days_needed is not None and result.more_days_needed > 0
    assert f"about {result.more_days_needed} more day(s) needed" in result.verdict
    assert result.verdict.startswith("no significant difference yet at 95 % confidence")


def test_compare_larger_effect_needs_fewer_days() -> None:
    a, b = _market_pair(seed=12, days=30)
    b = b - (b.mean() - a.mean())  # no difference in mean before the planted edge
    small = compare_daily_returns(a, b + 0.0005, seed=0)
    large = compare_daily_returns(a, b + 0.002, seed=0)
    assert small.more_days_needed and large.more_days_needed is not None
    assert large.significant or large.more_days_needed < small.more_days_needed


def test_compare_variants_without_trades_says_no_difference() -> None:
    zeros = np.zeros(20)
    result = compare_daily_returns(zeros, zeros.copy(), seed=0)
    assert not result.significant
    assert result.verdict.startswith("no difference: A and B returned exactly the same")
    assert result.a is not None and result.a.sharpe == 0 and result.a.total_return == 0
    assert result.as_dict()["sharpe_diff"]["p_value"] == "1.0000"


def test_compare_one_variant_without_trades_still_reports() -> None:
    a = np.zeros(20)
    _, b = _market_pair(seed=13, days=20)
    result = compare_daily_returns(a, b, seed=0)
    assert result.a is not None and result.a.sharpe == Decimal("0.0000")
    assert result.sharpe_diff is not None
    assert result.verdict  # a sentence, whatever it says


def test_compare_too_few_days_says_too_early() -> None:
    result = compare_daily_returns([0.01, -0.02, 0.0], [0.0, 0.01, 0.02])
    assert not result.significant and result.sharpe_diff is None
    assert result.verdict.startswith("too early: 3 day(s)")
    assert result.more_days_needed == 2


def test_compare_is_reproducible_from_its_seed() -> None:
    a, b = _market_pair(seed=14, days=50, edge_b=0.002)
    assert compare_daily_returns(a, b, seed=5) == compare_daily_returns(a, b, seed=5)
    assert compare_daily_returns(a, b, seed=5) != compare_daily_returns(a, b, seed=6)


def test_compare_sides_use_the_platform_sharpe() -> None:
    a, b = _market_pair(seed=15, days=60)
    result = compare_daily_returns(a, b, seed=0)
    assert result.b is not None
    assert result.b.sharpe == Decimal(f"{sharpe_ratio(b, DAYS_PER_YEAR):.4f}")
    assert DAYS_PER_YEAR == 365


@pytest.mark.parametrize(
    ("a", "b", "kwargs", "message"),
    [
        ([0.0] * 6, [0.0] * 5, {}, "same days"),
        ([0.0] * 6, [float("nan")] * 6, {}, "finite"),
        ([0.0] * 6, [0.0] * 6, {"confidence": Decimal("1.2")}, "confidence"),
        ([0.0] * 6, [0.0] * 6, {"resamples": 10}, "resamples"),
    ],
)
def test_compare_with_bad_input_raises_one_line(a, b, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        compare_daily_returns(a, b, **kwargs)


def test_daily_returns_compound_on_the_previous_day_equity() -> None:
    first = date(2026, 1, 1)
    days = day_range(first, first + timedelta(days=3))
    pnl = {
        first: Decimal("100"),
        first + timedelta(days=2): Decimal("-55"),
        date(2025, 12, 31): Decimal("999"),
    }
    returns = daily_returns(pnl, days=days, capital=Decimal("1000"))
    assert returns.tolist() == pytest.approx([0.1, 0.0, -0.05, 0.0])


def test_daily_returns_refuse_an_equity_at_zero() -> None:
    day = date(2026, 1, 1)
    with pytest.raises(ValueError, match="equity fell to zero"):
        daily_returns(
            {day: Decimal("-1000")},
            days=day_range(day, day + timedelta(days=1)),
            capital=Decimal(1000),
        )
    with pytest.raises(ValueError, match="capital must be positive"):
        daily_returns({}, days=[day], capital=Decimal(0))
