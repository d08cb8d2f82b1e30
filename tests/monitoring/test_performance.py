"""The pure performance figures and threshold checks."""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from apps.monitoring.domain.performance import (
    BreachKind,
    ClosedTrade,
    Severity,
    Thresholds,
    compute_stats,
    evaluate_thresholds,
    stats_by_scope,
)

D = Decimal
ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 25, 0, 0, tzinfo=UTC)


def trade(
    net: str,
    *,
    exit_min: int,
    held_min: int = 60,
    roi: str | None = "0",
    bot: int = 1,
    mode: str = "SCALP",
) -> ClosedTrade:
    exit_time = T0 + timedelta(minutes=exit_min)
    return ClosedTrade(
        bot=bot,
        mode=mode,
        net_pnl=D(net),
        roi=None if roi is None else D(roi),
        entry_time=exit_time - timedelta(minutes=held_min),
        exit_time=exit_time,
    )


HAND = [
    trade("30", exit_min=60, held_min=60, roi="3"),
    trade("-10", exit_min=120, held_min=120, roi="-1"),
    trade("-20", exit_min=180, held_min=180, roi="-2"),
    trade("50", exit_min=240, held_min=30, roi="5"),
    trade("0", exit_min=300, held_min=30, roi="0"),
    trade("-40", exit_min=360, held_min=60, roi="-4"),
]


def test_compute_stats_with_hand_computed_trades_matches_each_figure() -> None:
    shuffled = HAND[:]
    random.Random(7).shuffle(shuffled)
    s = compute_stats(shuffled, starting_equity=D(1000))
    assert (s.trades, s.wins, s.losses) == (6, 2, 3)
    assert s.win_rate == D(2) / D(6)
    assert (s.gross_profit, s.gross_loss) == (D(80), D(-70))
    assert s.avg_win == D(40) and s.avg_loss == D(-70) / D(3)
    assert s.profit_loss_ratio == D(40) / (D(70) / D(3))  # 12/7
    assert s.profit_factor == D(80) / D(70)
    assert s.net_pnl == D(10) and s.expectancy == D(10) / D(6)
    assert s.total_roi == D(1) and s.avg_roi == D(1) / D(6)
    # curve 30, 20, 0, 50, 50, 10: peak 50 -> 10 is the largest fall
    assert s.max_drawdown == D(40) and s.max_drawdown_pct == D(4)
    assert s.max_consecutive_losses == 2 and s.current_losing_streak == 1
    assert s.avg_holding == timedelta(minutes=80)
    assert s.first_exit == HAND[0].exit_time and s.last_exit == HAND[-1].exit_time


def test_compute_stats_with_no_trades_returns_none_figures() -> None:
    s = compute_stats([], starting_equity=D(1000))
    assert s.trades == 0 and s.net_pnl == 0 and s.max_drawdown == 0
    assert s.win_rate is None and s.expectancy is None and s.avg_roi is None
    assert s.profit_factor is None and s.profit_loss_ratio is None and s.avg_holding is None
    assert s.max_drawdown_pct == 0


def test_compute_stats_with_no_losses_has_undefined_ratios() -> None:
    s = compute_stats([trade("5", exit_min=1), trade("7", exit_min=2)], starting_equity=D(0))
    assert s.win_rate == 1 and s.avg_loss is None
    assert s.profit_factor is None and s.profit_loss_ratio is None  # would be infinite
    assert s.max_drawdown == 0 and s.max_drawdown_pct is None  # no starting equity


def test_compute_stats_with_only_losses_has_zero_ratios() -> None:
    s = compute_stats([trade("-5", exit_min=1), trade("-7", exit_min=2)], starting_equity=D(100))
    assert s.win_rate == 0 and s.avg_win is None
    assert s.profit_factor == 0 and s.profit_loss_ratio == 0
    assert s.max_drawdown == D(12) and s.max_drawdown_pct == D(12)
    assert s.max_consecutive_losses == 2 == s.current_losing_streak


def test_compute_stats_with_unknown_roi_averages_known_ones() -> None:
    s = compute_stats([trade("1", exit_min=1, roi="4"), trade("1", exit_min=2, roi=None)])
    assert s.total_roi == D(4) and s.avg_roi == D(4)


def test_stats_by_scope_with_two_bots_and_modes_splits_and_totals() -> None:
    trades = [
        trade("10", exit_min=1, bot=1, mode="SCALP"),
        trade("-5", exit_min=2, bot=1, mode="SWING"),
        trade("3", exit_min=3, bot=2, mode="SCALP"),
    ]
    scoped = stats_by_scope(
        trades, starting_equity={1: D(100), 2: D(50)}, total_starting_equity=D(150)
    )
    assert scoped[(None, None)].trades == 3 and scoped[(None, None)].starting_equity == D(150)
    assert scoped[(None, "SCALP")].trades == 2 and scoped[(None, "SWING")].trades == 1
    assert scoped[(1, None)].net_pnl == D(5) and scoped[(1, None)].starting_equity == D(100)
    assert scoped[(1, "SWING")].losses == 1 and scoped[(2, "SCALP")].wins == 1
    assert (2, "SWING") not in scoped
    assert set(stats_by_scope([])) == {(None, None)}


money = st.decimals(
    min_value=D("-1000"), max_value=D("1000"), places=2, allow_nan=False, allow_infinity=False
)
trades_strategy = st.lists(
    st.builds(
        lambda net, minute, held, roi, bot: trade(
            str(net), exit_min=minute, held_min=held, roi=roi, bot=bot
        ),
        money,
        st.integers(min_value=0, max_value=10_000),
        st.integers(min_value=0, max_value=600),
        st.one_of(st.none(), st.sampled_from(["-3.5", "0", "2.25"])),
        st.integers(min_value=1, max_value=3),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(trades=trades_strategy, equity=st.sampled_from([D(0), D(500), D(10_000)]))
def test_compute_stats_with_any_trades_keeps_invariants(
    trades: list[ClosedTrade], equity: Decimal
) -> None:
    s = compute_stats(trades, starting_equity=equity)
    assert s.trades == len(trades) and s.wins + s.losses <= s.trades
    if s.win_rate is not None:
        assert 0 <= s.win_rate <= 1
    assert s.max_drawdown >= 0
    assert s.max_drawdown <= -s.gross_loss  # a fall needs at least that much lost
    if s.max_drawdown_pct is not None:
        assert s.max_drawdown_pct >= 0
    assert s.gross_profit + s.gross_loss == s.net_pnl
    if s.profit_factor is not None:
        assert s.profit_factor >= 0
    assert s.current_losing_streak <= s.max_consecutive_losses <= s.losses
    if s.expectancy is not None:
        assert abs(s.expectancy * s.trades - s.net_pnl) < D("1e-20")
    scoped = stats_by_scope(trades)
    assert sum(v.trades for (b, m), v in scoped.items() if b is not None and m is None) == len(
        trades
    )


def _stats(wins: int, losses: int, *, win: str = "10", loss: str = "-10", equity: str = "1000"):
    rows = [trade(win, exit_min=i) for i in range(wins)]
    rows += [trade(loss, exit_min=wins + i) for i in range(losses)]
    return compute_stats(rows, starting_equity=D(equity))


def test_evaluate_thresholds_with_low_win_rate_reports_it_with_figures() -> None:
    stats = _stats(3, 7, win="50", loss="-10")  # profit factor 150/70 > 1
    breaches = evaluate_thresholds(stats, Thresholds(max_consecutive_losses=None), label="bot-1")
    assert [b.kind for b in breaches] == [BreachKind.WIN_RATE]
    (breach,) = breaches
    assert breach.severity == Severity.WARNING
    assert breach.message == (
        "bot-1: win rate 30.0 % is below 40.0 % over 10 trades (3 won, 7 lost)"
    )
    assert "\n" not in breach.message


def test_evaluate_thresholds_with_good_figures_reports_nothing() -> None:
    assert evaluate_thresholds(_stats(6, 4), Thresholds()) == []


def test_evaluate_thresholds_with_too_few_trades_skips_rate_checks() -> None:
    stats = _stats(1, 4)
    kinds = [b.kind for b in evaluate_thresholds(stats, Thresholds(min_trades=10))]
    assert BreachKind.WIN_RATE not in kinds and BreachKind.PROFIT_FACTOR not in kinds
    kinds = [b.kind for b in evaluate_thresholds(stats, Thresholds(min_trades=5))]
    assert BreachKind.WIN_RATE in kinds and BreachKind.PROFIT_FACTOR in kinds


def test_evaluate_thresholds_with_deep_drawdown_and_streak_reports_both() -> None:
    stats = _stats(0, 6, loss="-25", equity="1000")  # 150 lost = 15 % of equity
    breaches = {b.kind: b for b in evaluate_thresholds(stats, Thresholds(min_trades=100))}
    assert set(breaches) == {BreachKind.DRAWDOWN, BreachKind.LOSING_STREAK}
    assert breaches[BreachKind.DRAWDOWN].severity == Severity.CRITICAL
    assert "15.00 %" in breaches[BreachKind.DRAWDOWN].message
    assert "150.00 of 1000.00" in breaches[BreachKind.DRAWDOWN].message
    assert breaches[BreachKind.LOSING_STREAK].message == "6 consecutive losing trades (limit 5)"


def test_evaluate_thresholds_with_checks_switched_off_reports_nothing() -> None:
    off = Thresholds(
        min_win_rate=None,
        min_profit_factor=None,
        max_drawdown_pct=None,
        max_consecutive_losses=None,
        min_trades=0,
    )
    assert evaluate_thresholds(_stats(0, 20), off) == []


def test_evaluate_thresholds_with_no_trades_reports_nothing() -> None:
    assert evaluate_thresholds(compute_stats([]), Thresholds(min_trades=0)) == []


def test_performance_domain_with_module_imported_loads_no_framework_or_network_package() -> None:
    forbidden = ("django", "celery", "binance", "aiohttp", "requests", "redis", "channels")
    code = (
        "import sys\nimport apps.monitoring.domain.performance\n"
        f"print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {forbidden!r})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
