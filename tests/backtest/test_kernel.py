"""The long-bracket kernel: fills, ordering of events, batch vs event loop, equity."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.backtest.research.domain import kernel
from apps.backtest.research.domain.kernel import (
    EXIT_REASONS,
    BracketParams,
    equity_curve,
    first_touch,
    first_touch_batch,
    simulate_long_brackets,
)


def _run(o, h, lo, c, entries, exits, **params):
    arrays = [np.asarray(a, dtype=float) for a in (o, h, lo, c)]
    logs = [
        simulate_long_brackets(
            *arrays,
            entry_signals=entries,
            exit_signals=exits,
            params=BracketParams(**params),
            method=method,
        )
        for method in ("batch", "events")
    ]
    for field in logs[0].__dataclass_fields__:
        assert np.array_equal(getattr(logs[0], field), getattr(logs[1], field)), field
    return logs[0]


def test_kernel_with_gap_below_stop_fills_at_open() -> None:
    # entry signal at 0 -> buy open[1]=100; candle 2 opens at 90, below the stop at 95.
    log = _run(
        [100, 100, 90, 90],
        [101, 101, 91, 91],
        [99, 99, 85, 85],
        [100, 100, 90, 90],
        [0],
        [],
        stop_loss=0.05,
        take_profit=0.1,
        fee=0.0,
        stake=100.0,
    )
    assert log.exit_index.tolist() == [2]
    assert EXIT_REASONS[log.reason[0]] == "stop_loss"
    assert log.exit_price[0] == 90.0
    assert log.pnl[0] == pytest.approx(-10.0)


def test_kernel_with_stop_and_target_in_one_candle_takes_the_stop() -> None:
    log = _run(
        [100, 100, 100],
        [100, 100, 120],
        [100, 100, 80],
        [100, 100, 100],
        [0],
        [],
        stop_loss=0.05,
        take_profit=0.1,
        fee=0.0,
    )
    assert EXIT_REASONS[log.reason[0]] == "stop_loss"
    assert log.exit_price[0] == 95.0


def test_kernel_with_stop_touched_on_entry_candle_exits_there() -> None:
    log = _run(
        [100, 100, 100],
        [100, 100, 100],
        [100, 94, 100],
        [100, 100, 100],
        [0],
        [],
        stop_loss=0.05,
        fee=0.0,
    )
    assert log.entry_index.tolist() == [1] and log.exit_index.tolist() == [1]
    assert EXIT_REASONS[log.reason[0]] == "stop_loss"


def test_kernel_with_pending_exit_and_stop_touched_exits_on_signal_at_open() -> None:
    # exit signal at the close of candle 1 -> sell at open[2]=99 before candle 2's low of 50.
    log = _run(
        [100, 100, 99, 99],
        [100, 100, 99, 99],
        [100, 100, 50, 99],
        [100, 100, 99, 99],
        [0],
        [1],
        stop_loss=0.05,
        fee=0.0,
    )
    assert EXIT_REASONS[log.reason[0]] == "signal"
    assert log.exit_index.tolist() == [2] and log.exit_price[0] == 99.0


def test_kernel_with_gap_over_target_fills_at_open() -> None:
    log = _run(
        [100, 100, 130],
        [100, 100, 131],
        [100, 100, 129],
        [100, 100, 130],
        [0],
        [],
        take_profit=0.1,
        fee=0.0,
    )
    assert EXIT_REASONS[log.reason[0]] == "take_profit" and log.exit_price[0] == 130.0


def test_kernel_with_open_position_at_end_marks_at_last_close() -> None:
    log = _run(
        [100, 100, 105],
        [100, 100, 106],
        [100, 100, 104],
        [100, 100, 105.5],
        [0],
        [],
        fee=0.001,
        stake=1000.0,
    )
    assert EXIT_REASONS[log.reason[0]] == "end" and log.exit_price[0] == 105.5
    qty = 1000.0 / 100.0
    assert log.fees[0] == pytest.approx(0.001 * qty * 100 + 0.001 * qty * 105.5)
    assert log.pnl[0] == pytest.approx(qty * 5.5 - log.fees[0])


def test_kernel_after_stop_takes_entry_signal_of_the_same_candle() -> None:
    o = [100, 100, 100, 100, 100]
    lo = [100, 100, 90, 100, 100]
    log = _run(o, o, lo, o, [0, 2], [], stop_loss=0.05, fee=0.0)
    assert log.entry_index.tolist() == [1, 3]
    assert [EXIT_REASONS[r] for r in log.reason] == ["stop_loss", "end"]


def test_kernel_ignores_signal_on_last_candle_and_entries_while_long() -> None:
    o = [100.0] * 6
    log = _run(o, o, o, o, [0, 1, 2, 5], [3], fee=0.0)
    assert log.entry_index.tolist() == [1]
    assert log.exit_index.tolist() == [4]


def test_kernel_rejects_unsorted_signals() -> None:
    o = np.full(5, 100.0)
    with pytest.raises(ValueError, match="strictly increasing"):
        simulate_long_brackets(
            o, o, o, o, entry_signals=[2, 1], exit_signals=[], params=BracketParams()
        )


def test_bracket_params_validate() -> None:
    with pytest.raises(ValueError, match="stop_loss"):
        BracketParams(stop_loss=1.5)
    with pytest.raises(ValueError, match="stake"):
        BracketParams(stake=0.0)


def test_first_touch_batch_agrees_with_first_touch() -> None:
    rng = np.random.default_rng(1)
    n = 5_000
    close = 100 + np.cumsum(rng.normal(size=n))
    high, low = close + rng.random(n), close - rng.random(n)
    starts = np.sort(rng.choice(n - 1, size=300, replace=False)).astype(np.int64)
    ends = np.minimum(starts + rng.integers(0, 2_000, size=300), n - 1)
    stops = close[starts] - rng.random(300) * 20
    targets = close[starts] + rng.random(300) * 20
    got = first_touch_batch(high, low, starts, ends, stops, targets)
    want = [
        first_touch(high, low, int(s), int(e), float(a), float(b))
        for s, e, a, b in zip(starts, ends, stops, targets, strict=True)
    ]
    assert got.tolist() == want


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 200),
    sl=st.sampled_from([None, 0.002, 0.01, 0.05]),
    tp=st.sampled_from([None, 0.002, 0.01, 0.05]),
)
def test_kernel_batch_and_event_loop_agree_on_random_signals(seed, n, sl, tp) -> None:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.005, size=n)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.maximum(open_, close) * (1 + rng.random(n) * 0.004)
    low = np.minimum(open_, close) * (1 - rng.random(n) * 0.004)
    entries = np.flatnonzero(rng.random(n) < 0.2)
    exits = np.flatnonzero(rng.random(n) < 0.2)
    _run(open_, high, low, close, entries, exits, stop_loss=sl, take_profit=tp)


def test_equity_curve_marks_open_position_and_realises_at_exit() -> None:
    o = np.array([100.0, 100.0, 102.0, 104.0, 103.0])
    c = np.array([100.0, 101.0, 103.0, 104.0, 103.0])
    log = _run(o, np.maximum(o, c), np.minimum(o, c), c, [0], [2], fee=0.001, stake=1000.0)
    # entry at open[1]=100 (qty 10), exit signal at close 2 -> sold at open[3]=104.
    eq = equity_curve(log, c, 10_000.0)
    entry_fee = 0.001 * 1000.0
    assert eq[0] == 10_000.0
    assert eq[1] == pytest.approx(10_000.0 + 10 * 1.0 - entry_fee)
    assert eq[2] == pytest.approx(10_000.0 + 10 * 3.0 - entry_fee)
    assert eq[3] == pytest.approx(10_000.0 + log.pnl[0])
    assert math.isclose(eq[4], eq[3])


def test_kernel_sizer_resizes_and_vetoes_entries() -> None:
    rng = np.random.default_rng(5)
    n = 2_000
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.003, size=n)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    high, low = np.maximum(open_, close) * 1.001, np.minimum(open_, close) * 0.999
    entries = np.flatnonzero(rng.random(n) < 0.05)
    exits = np.flatnonzero(rng.random(n) < 0.05)
    params = BracketParams(stake=500.0, fee=0.001, stop_loss=0.01, take_profit=0.01)

    def run(sizer, method="events"):
        return simulate_long_brackets(
            open_,
            high,
            low,
            close,
            entry_signals=entries,
            exit_signals=exits,
            params=params,
            method=method,
            sizer=sizer,
        )

    plain = run(None, method="batch")
    same = run(lambda i, price, realized: 500.0 / price)
    assert np.array_equal(plain.pnl, same.pnl) and np.array_equal(plain.exit_index, same.exit_index)
    seen = []

    def veto_every_other(i, price, realized):
        seen.append(realized)
        return None if len(seen) % 2 == 0 else 1.0

    vetoed = run(veto_every_other)
    assert (vetoed.quantity == 1.0).all()
    assert 0 < len(vetoed) < len(plain) + len(seen)
    prefix_sums = np.concatenate(([0.0], np.cumsum(vetoed.pnl)))
    assert all(np.isclose(prefix_sums, r, rtol=0, atol=1e-9).any() for r in seen)
    with pytest.raises(ValueError, match="sizer"):
        run(lambda *a: 1.0, method="batch")


@pytest.mark.parametrize("horizon", [1, 3, 50])
@pytest.mark.parametrize("with_exits", [True, False])
def test_kernel_batch_with_short_scan_horizon_agrees_with_event_loop(
    monkeypatch, horizon, with_exits
) -> None:
    """Windows longer than the batch horizon are finished by the per-trade search."""
    monkeypatch.setattr(kernel, "_MIN_HORIZON", horizon)
    rng = np.random.default_rng(horizon)
    n = 3_000
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, size=n)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.maximum(open_, close) * (1 + rng.random(n) * 0.002)
    low = np.minimum(open_, close) * (1 - rng.random(n) * 0.002)
    entries = np.flatnonzero(rng.random(n) < 0.3)
    exits = np.flatnonzero(rng.random(n) < 0.01) if with_exits else []
    for sl, tp in [(0.01, 0.02), (None, 0.03), (0.05, None), (None, None)]:
        log = _run(open_, high, low, close, entries, exits, stop_loss=sl, take_profit=tp)
        assert len(log) > 0
