"""The general kernel: long and short, levels from the frame, trailing, leverage and
liquidation, book slippage, maker/taker fees and the intrabar order, on hand-computed candles."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.backtest.research.domain.kernel import (
    EXIT_REASONS,
    BracketParams,
    TradeLog,
    equity_curve,
    simulate_long_brackets,
)
from apps.backtest.research.domain.signal_kernel import (
    BookSlippage,
    ExecutionParams,
    FineCandles,
    book_fill_bps,
    liquidation_price,
    simulate_signals,
)
from apps.exchange.domain.simulated.book import DepthModel, walk_book
from apps.exchange.domain.types import InstrumentInfo, Side

NAN = float("nan")


def _cols(n: int, **marks: dict[int, float] | list[int]) -> dict[str, np.ndarray]:
    """Signal columns of ``n`` candles: ``enter_short=[0]``, ``stop_price={0: 105.0}``..."""
    out: dict[str, np.ndarray] = {}
    for name in ("enter_long", "exit_long", "enter_short", "exit_short"):
        column = np.zeros(n, dtype=bool)
        column[list(marks.get(name, []))] = True
        out[name] = column
    for name in ("stop_price", "take_profit", "trail_distance"):
        if name in marks:
            column = np.full(n, NAN)
            for i, value in marks[name].items():  # type: ignore[union-attr]
                column[i] = value
            out[name] = column
    return out


def _run(candles, params: ExecutionParams, fine: FineCandles | None = None, **marks) -> TradeLog:
    """Run the loop as plain Python and compiled; both must give the same trades."""
    o, h, lo, c = (np.asarray(a, dtype=float) for a in candles[:4])
    v = np.asarray(candles[4], dtype=float) if len(candles) > 4 else np.full(o.size, 1e9)
    kwargs = {
        **_cols(o.size, **marks),
        "params": params,
        "fine": fine,
        "open_time": np.arange(o.size, dtype=np.int64) * 300_000,
        "interval_ms": 300_000,
    }
    plain = simulate_signals(o, h, lo, c, v, jit=False, **kwargs).trades
    compiled = simulate_signals(o, h, lo, c, v, jit=True, **kwargs).trades
    for name in plain.__dataclass_fields__:
        a, b = getattr(plain, name), getattr(compiled, name)
        assert (a is None and b is None) or np.array_equal(a, b), name
    return plain


def _reasons(log: TradeLog) -> list[str]:
    return [EXIT_REASONS[r] for r in log.reason]


FLAT = [100.0, 100.0]
NO_FEES = ExecutionParams(stake=1000.0, fee=0.0)


def test_short_hitting_its_stop_loses_the_stop_distance() -> None:
    # short signal at 0 -> sell open[1]=100, stop 105 from the frame; candle 2 reaches 106.
    candles = (
        [100, 100, 101, 101],
        [100, 101, 106, 101],
        [100, 99, 100, 100],
        [100, 100, 101, 101],
    )
    log = _run(candles, ExecutionParams(fee=0.001), enter_short=[0], stop_price={0: 105.0})
    assert _reasons(log) == ["stop_loss"] and log.sides().tolist() == [-1]
    assert log.entry_index.tolist() == [1] and log.exit_index.tolist() == [2]
    assert log.exit_price[0] == 105.0
    q = 1000.0 / 100.0
    assert log.pnl[0] == pytest.approx(q * (100 - 105) - 0.001 * q * (100 + 105))


def test_short_take_profit_fills_at_the_target_and_pays_the_maker_fee() -> None:
    candles = ([100, 100, 99, 99], [100, 100, 99, 99], [100, 99, 89, 99], [100, 100, 95, 99])
    params = ExecutionParams(fee=0.0005, maker_fee=0.0002)
    log = _run(candles, params, enter_short=[0], stop_price={0: 110.0}, take_profit={0: 90.0})
    assert _reasons(log) == ["take_profit"] and log.exit_price.tolist() == [90.0]
    q = 10.0
    assert log.fees[0] == pytest.approx(0.0005 * q * 100 + 0.0002 * q * 90)
    assert log.pnl[0] == pytest.approx(q * 10 - log.fees[0])


def test_fractions_serve_where_the_frame_has_no_level_and_a_short_mirrors_them() -> None:
    candles = ([100, 100, 100], [100, 100, 102.5], [100, 100, 100], [100, 100, 100])
    params = ExecutionParams(fee=0.0, stop_loss=0.02, take_profit=0.04)
    log = _run(candles, params, enter_short=[0])
    assert _reasons(log) == ["stop_loss"] and log.exit_price[0] == pytest.approx(102.0)


def test_long_liquidation_at_the_isolated_margin_price_loses_the_margin() -> None:
    # 10x long at 100: liquidation at 100 * 0.9 / 0.996 = 90.361...; the stop at 80 is below it.
    params = ExecutionParams(stake=1000.0, fee=0.0004, leverage=10, maintenance_margin=0.004)
    price = 100 * (1 - 1 / 10) / (1 - 0.004)
    assert liquidation_price(100.0, 1, 10, 0.004) == pytest.approx(price)
    candles = ([100, 100, 99, 99], [100, 100, 99, 99], [100, 99, 85, 99], [100, 100, 95, 99])
    log = _run(candles, params, enter_long=[0], stop_price={0: 80.0})
    assert _reasons(log) == ["liquidation"]
    assert log.exit_price[0] == pytest.approx(price)
    q = 1000.0 * 10 / 100.0  # the stake is the margin: 10,000 notional
    assert log.quantity[0] == q
    assert log.pnl[0] == pytest.approx(-1000.0 - 0.0004 * q * 100)  # margin + entry fee
    # a stop above the liquidation price is reached first on the way down
    log = _run(candles, params, enter_long=[0], stop_price={0: 95.0})
    assert _reasons(log) == ["stop_loss"] and log.exit_price[0] == 95.0


def test_short_liquidation_through_a_gap_fills_at_the_open_and_still_loses_the_margin() -> None:
    params = ExecutionParams(stake=500.0, fee=0.0, leverage=2, maintenance_margin=0.004)
    assert liquidation_price(100.0, -1, 2, 0.004) == pytest.approx(150 / 1.004)
    candles = (
        [100, 100, 160, 160],
        [100, 100, 161, 160],
        [100, 100, 159, 160],
        [100] * 2 + [160] * 2,
    )
    log = _run(candles, params, enter_short=[0])
    assert _reasons(log) == ["liquidation"] and log.exit_price.tolist() == [160.0]
    assert log.pnl[0] == pytest.approx(-500.0)


def test_leverage_one_long_is_never_liquidated() -> None:
    candles = ([100, 100, 1], [100, 100, 1], [100, 100, 0.5], [100, 100, 1])
    log = _run(candles, ExecutionParams(fee=0.0, leverage=1), enter_long=[0])
    assert _reasons(log) == ["end"] and log.pnl[0] == pytest.approx(10 * (1 - 100))


def test_book_slippage_walks_the_depth_of_the_signal_candle() -> None:
    # volume 1000 -> 1000 * 0.02 / 50 = 0.4 per level; a 1,000 quote buy at 100 is 10 units:
    # 25 levels, mean level index 12 -> 12 * 0.5 = 6 bps.
    book = BookSlippage()
    assert book_fill_bps(10.0, 1000.0, book) == pytest.approx(6.0)
    assert book_fill_bps(0.1, 1000.0, book) == 0.0  # inside the best level
    candles = ([100, 100, 100, 100], [100] * 4, [100] * 4, [100] * 4, [1000, 5, 1000, 1000])
    log = _run(candles, ExecutionParams(fee=0.0, slippage=book), enter_long=[0], exit_long=[1])
    assert log.entry_slippage_bps[0] == pytest.approx(6.0)  # the book of candle 0
    assert log.entry_price[0] == pytest.approx(100 * (1 + 6.0 / 10_000))
    # the exit at open[2] sees candle 1's book: 5 units of volume, 0.002 per level, so the
    # 10 units eat the 50 levels and the rest fills at the last: (1225 + 4950 * 49) / 5000
    idx = (50 * 49 / 2 + (10 / 0.002 - 50) * 49) / (10 / 0.002)
    assert log.exit_slippage_bps[0] == pytest.approx(idx * 0.5)
    assert log.exit_price[0] == pytest.approx(100 * (1 - idx * 0.5 / 10_000))
    assert log.pnl[0] < -0.24 * 10  # 24.5 bps of 1,000 lost on the exit alone


def test_book_slippage_matches_the_simulators_depth_model_without_jitter() -> None:
    info = InstrumentInfo(
        symbol="BTCUSDT",
        base_asset="BTC",
        quote_asset="USDT",
        tick_size=Decimal("0.0001"),
        step_size=Decimal("0.000001"),
        min_qty=Decimal("0.000001"),
        max_qty=Decimal(10**9),
        market_min_qty=Decimal("0.000001"),
        market_max_qty=Decimal(10**9),
        market_step_size=Decimal("0.000001"),
        min_notional=Decimal(0),
    )
    model = DepthModel(jitter=Decimal(0), min_level_qty=Decimal("0.000001"))
    for qty, volume in ((0.3, 1000.0), (3.7, 1000.0), (15.0, 1000.0), (2.0, 40.0)):
        ref = Decimal(100)
        book = model.synthesize(info, ref, Decimal(str(volume)), seed=0, time=None)
        chunks, _ = walk_book(book.levels(Side.BUY), Side.BUY, Decimal(str(qty)))
        taken = sum(c.qty for c in chunks)
        average = sum(c.price * c.qty for c in chunks) / taken
        if taken < Decimal(str(qty)):  # the simulator lets the rest expire; we fill it last
            continue
        ours = 100 * (1 + float(book_fill_bps(qty, volume, BookSlippage())) / 10_000)
        assert abs(ours - float(average)) <= 0.0001 + 1e-9  # within the simulator's one tick


# candle 2 touches both the stop (95) and the target (110) and closes down: open 100 -> high
# 111 -> low 94 -> close 96 on the simulator's path, so the target comes first there.
BOTH = ([100, 100, 100, 96], [100, 100, 111, 96], [100, 100, 94, 96], [100, 100, 96, 96])


def test_path_and_stop_first_exit_differently_on_a_candle_touching_both() -> None:
    marks = {"enter_long": [0], "stop_price": {0: 95.0}, "take_profit": {0: 110.0}}
    first = _run(BOTH, ExecutionParams(fee=0.0), **marks)
    path = _run(BOTH, ExecutionParams(fee=0.0, intrabar="path"), **marks)
    assert _reasons(first) == ["stop_loss"] and first.exit_price.tolist() == [95.0]
    assert _reasons(path) == ["take_profit"] and path.exit_price.tolist() == [110.0]
    # a short on an up candle: open -> low -> high, its target below comes first on the path
    up = ([100, 100, 100, 104], [100, 100, 106, 104], [100, 100, 89, 104], [100, 100, 104, 104])
    marks = {"enter_short": [0], "stop_price": {0: 105.0}, "take_profit": {0: 90.0}}
    assert _reasons(_run(up, ExecutionParams(fee=0.0), **marks)) == ["stop_loss"]
    assert _reasons(_run(up, ExecutionParams(fee=0.0, intrabar="path"), **marks)) == ["take_profit"]


def test_finer_candles_resolve_the_candle_touching_both() -> None:
    # The 5m candle 2 closes down (path: target first), but its 1m candles fall to 94 first.
    fine = FineCandles(
        open_time=np.array([600_000, 660_000, 720_000, 780_000, 840_000], dtype=np.int64),
        open=np.array([100.0, 97.0, 94.5, 100.0, 110.0]),
        high=np.array([100.0, 97.0, 100.0, 111.0, 110.0]),
        low=np.array([97.0, 94.0, 94.5, 100.0, 96.0]),
        close=np.array([97.0, 94.5, 100.0, 110.0, 96.0]),
    )
    marks = {"enter_long": [0], "stop_price": {0: 95.0}, "take_profit": {0: 110.0}}
    finer = ExecutionParams(fee=0.0, intrabar="finer")
    log = _run(BOTH, finer, fine=fine, **marks)
    assert _reasons(log) == ["stop_loss"] and log.exit_price.tolist() == [95.0]
    run = simulate_signals(
        *(np.asarray(a, dtype=float) for a in BOTH),
        np.full(4, 1e9),
        **_cols(4, **marks),
        params=finer,
        fine=fine,
        open_time=np.arange(4, dtype=np.int64) * 300_000,
        interval_ms=300_000,
    )
    assert (run.ambiguous, run.resolved_by_fine) == (1, 1)
    # without finer candles inside that candle: the path rule
    elsewhere = FineCandles(
        *(a[:0] for a in (fine.open_time, fine.open, fine.high, fine.low)), fine.close[:0]
    )
    assert _reasons(_run(BOTH, finer, fine=elsewhere, **marks)) == ["take_profit"]


def test_trailing_stop_follows_the_closed_highs_and_exits_as_trailing() -> None:
    # long at 100, trail 5 (no fixed stop): highs 104, 112, 120 -> stop 115 during candle 5.
    o = [100, 100, 103, 110, 118, 119]
    h = [100, 104, 112, 120, 119, 119]
    lo = [100, 99, 103, 110, 116, 113]
    c = [100, 103, 110, 118, 119, 114]
    log = _run((o, h, lo, c), ExecutionParams(fee=0.0), enter_long=[0], trail_distance={0: 5.0})
    assert _reasons(log) == ["trailing"] and log.exit_index.tolist() == [5]
    assert log.exit_price[0] == 115.0
    # a fixed stop above the trail is a plain stop-loss
    log = _run(
        (o, h, lo, c),
        ExecutionParams(fee=0.0),
        enter_long=[0],
        trail_distance={0: 50.0},
        stop_price={0: 99.5},
    )
    assert _reasons(log) == ["stop_loss"] and log.exit_index.tolist() == [1]


def test_signals_act_at_the_next_open_and_not_from_the_last_candle() -> None:
    o = [100, 101, 102, 103, 104]
    log = _run((o, o, o, o), NO_FEES, enter_long=[0, 2], exit_long=[1], enter_short=[4])
    assert log.entry_index.tolist() == [1, 3] and log.entry_price.tolist() == [101.0, 103.0]
    assert _reasons(log) == ["signal", "end"]
    assert log.exit_index.tolist() == [2, 4] and log.exit_price.tolist() == [102.0, 104.0]


def test_exit_then_opposite_entry_while_in_a_position_waits_for_a_flat_signal() -> None:
    # long at 1; exit_long and enter_short together at 2: exit at open[3], no short yet;
    # the short signal at 3 (flat by then) sells open[4].
    o = [100.0] * 6
    log = _run(
        (o, o, o, o), NO_FEES, enter_long=[0], exit_long=[2], enter_short=[2, 3], exit_short=[]
    )
    assert log.sides().tolist() == [1, -1]
    assert log.entry_index.tolist() == [1, 4] and log.exit_index.tolist() == [3, 5]


def test_both_entry_columns_on_one_candle_enter_nothing() -> None:
    o = [100.0] * 3
    assert len(_run((o, o, o, o), NO_FEES, enter_long=[0], enter_short=[0])) == 0


def test_equity_of_a_short_gains_when_the_price_falls() -> None:
    o = np.array([100.0, 100.0, 90.0, 80.0])
    log = _run((o, o, o, o), NO_FEES, enter_short=[0])
    equity = equity_curve(log, o, 1000.0)
    assert equity.tolist() == pytest.approx([1000, 1000, 1100, 1200])


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 150),
    sl=st.sampled_from([None, 0.002, 0.01]),
    tp=st.sampled_from([None, 0.002, 0.01]),
)
def test_long_only_without_slippage_equals_the_bracket_kernel(seed, n, sl, tp) -> None:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.005, size=n)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.maximum(open_, close) * (1 + rng.random(n) * 0.004)
    low = np.minimum(open_, close) * (1 - rng.random(n) * 0.004)
    entries, exits = rng.random(n) < 0.2, rng.random(n) < 0.2
    want = simulate_long_brackets(
        open_,
        high,
        low,
        close,
        entry_signals=np.flatnonzero(entries),
        exit_signals=np.flatnonzero(exits),
        params=BracketParams(
            stake=1000.0, fee=0.0004, maker_fee=0.0002, stop_loss=sl, take_profit=tp
        ),
    )
    got = _run(
        (open_, high, low, close),
        ExecutionParams(fee=0.0004, maker_fee=0.0002, stop_loss=sl, take_profit=tp),
        enter_long=np.flatnonzero(entries).tolist(),
        exit_long=np.flatnonzero(exits).tolist(),
    )
    for name in ("entry_index", "exit_index", "entry_price", "exit_price", "reason", "pnl"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name


def test_execution_params_refuse_bad_values() -> None:
    with pytest.raises(ValueError, match="leverage"):
        ExecutionParams(leverage=0.5)
    with pytest.raises(ValueError, match="intrabar"):
        ExecutionParams(intrabar="random")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="maintenance"):
        ExecutionParams(maintenance_margin=0.7)
