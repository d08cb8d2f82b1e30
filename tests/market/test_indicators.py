"""Indicators: whole-series values against incremental (live-style) and plain-loop computations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.market.domain import indicators as ind
from tests.conftest import shared_data_file


@pytest.fixture(scope="module")
def prices() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(42)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, size=3_000)))
    high = close * (1 + rng.random(3_000) * 0.01)
    low = close * (1 - rng.random(3_000) * 0.01)
    return {"close": close, "high": high, "low": low}


def _feed(obj, *series):
    out = []
    for values in zip(*series, strict=True):
        out.append(obj.update(*values))
    return out


@pytest.mark.parametrize("period", [1, 2, 12, 26, 200])
def test_ema_equals_incremental_bit_for_bit(prices, period) -> None:
    close = prices["close"]
    whole = ind.ema(close, period)
    assert whole[0] == close[0]
    incremental = _feed(ind.EmaIncremental(period), close)
    assert whole.tolist() == incremental
    # Live computes on its rolling window: the last value of the window's EMA is the same.
    window = close[-500:]
    assert ind.ema(window, period)[-1] == _feed(ind.EmaIncremental(period), window)[-1]


def test_ema_matches_pandas_ewm_without_adjustment(prices) -> None:
    close = prices["close"]
    expected = pd.Series(close).ewm(span=26, adjust=False).mean().to_numpy()
    np.testing.assert_allclose(ind.ema(close, 26), expected, rtol=1e-12)


@pytest.mark.parametrize("period", [3, 20])
def test_sma_and_bollinger_equal_incremental(prices, period) -> None:
    close = prices["close"]
    sma = ind.sma(close, period)
    assert np.isnan(sma[: period - 1]).all()
    np.testing.assert_allclose(sma, _feed(ind.SmaIncremental(period), close), rtol=1e-12)
    middle, upper, lower = ind.bollinger(close, period, 2.0)
    inc = np.array(_feed(ind.BollingerIncremental(period, 2.0), close))
    np.testing.assert_allclose(middle, inc[:, 0], rtol=1e-12)
    np.testing.assert_allclose(upper, inc[:, 1], rtol=1e-12)
    np.testing.assert_allclose(lower, inc[:, 2], rtol=1e-12)
    window = close[100 : 100 + period]
    assert upper[100 + period - 1] == pytest.approx(window.mean() + 2 * window.std(), rel=1e-12)


def _rsi_plain(close, n):
    out = [math.nan] * len(close)
    gains = [max(close[i] - close[i - 1], 0.0) for i in range(1, len(close))]
    losses = [max(close[i - 1] - close[i], 0.0) for i in range(1, len(close))]
    if len(gains) < n:
        return out
    ag, al = sum(gains[:n]) / n, sum(losses[:n]) / n
    for i in range(n, len(close)):
        if i > n:
            ag = (ag * (n - 1) + gains[i - 1]) / n
            al = (al * (n - 1) + losses[i - 1]) / n
        out[i] = 100.0 if al == 0 and ag > 0 else 50.0 if al == 0 else 100 - 100 / (1 + ag / al)
    return out


@pytest.mark.parametrize("period", [2, 14])
def test_rsi_equals_plain_loop_and_incremental(prices, period) -> None:
    close = prices["close"]
    rsi = ind.rsi(close, period)
    assert np.isnan(rsi[:period]).all() and not np.isnan(rsi[period:]).any()
    np.testing.assert_allclose(rsi, _rsi_plain(close.tolist(), period), rtol=1e-9)
    assert rsi.tolist()[period:] == _feed(ind.RsiIncremental(period), close)[period:]
    assert ((rsi[period:] >= 0) & (rsi[period:] <= 100)).all()


def test_rsi_of_flat_and_rising_series() -> None:
    assert ind.rsi(np.full(30, 5.0), 14)[-1] == 50.0
    assert ind.rsi(np.arange(1.0, 31.0), 14)[-1] == 100.0


def _atr_plain(h, lo, c, n):
    tr = [h[0] - lo[0]] + [
        max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1])) for i in range(1, len(c))
    ]
    out = [math.nan] * len(c)
    a = sum(tr[:n]) / n
    out[n - 1] = a
    for i in range(n, len(c)):
        a = (a * (n - 1) + tr[i]) / n
        out[i] = a
    return out


@pytest.mark.parametrize("period", [1, 14])
def test_atr_equals_plain_loop_and_incremental(prices, period) -> None:
    h, lo, c = prices["high"], prices["low"], prices["close"]
    atr = ind.atr(h, lo, c, period)
    np.testing.assert_allclose(
        atr, _atr_plain(h.tolist(), lo.tolist(), c.tolist(), period), rtol=1e-9
    )
    inc = _feed(ind.AtrIncremental(period), h, lo, c)
    np.testing.assert_array_equal(atr[period - 1 :], inc[period - 1 :])


def test_log_returns() -> None:
    r = ind.log_returns([100.0, 110.0, 99.0])
    assert math.isnan(r[0])
    assert r[1] == pytest.approx(math.log(1.1)) and r[2] == pytest.approx(math.log(0.9))


def test_indicators_on_short_series_are_nan_not_errors() -> None:
    assert ind.ema([], 5).size == 0
    assert np.isnan(ind.sma([1.0, 2.0], 5)).all()
    assert np.isnan(ind.rsi([1.0], 14)).all()
    assert np.isnan(ind.atr([2.0, 2.0], [1.0, 1.0], [1.5, 1.5], 14)).all()
    with pytest.raises(ValueError, match="period"):
        ind.ema([1.0], 0)


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.floats(1.0, 1e6, allow_nan=False), min_size=1, max_size=60),
    period=st.integers(1, 30),
)
def test_ema_incremental_property(values, period) -> None:
    assert ind.ema(values, period).tolist() == _feed(ind.EmaIncremental(period), values)


def test_numba_and_python_recursions_are_bit_identical() -> None:
    assert ind.numba_available(), "numba is pinned in requirements/base.txt"
    rng = np.random.default_rng(0)
    x = 1e4 + np.cumsum(rng.normal(size=50_000))
    for period in (2, 9, 26, 200):
        alpha = ind.ema_alpha(period)
        py = ind._ema_recursion(x, alpha, 1e4, backend="python")
        nb = ind._ema_recursion(x, alpha, 1e4, backend="numba")
        assert np.array_equal(py, nb)
        assert np.array_equal(
            ind._wilder_recursion(x, period, 5.0, backend="python"),
            ind._wilder_recursion(x, period, 5.0, backend="numba"),
        )


# --- window statistics: numpy's per-window reductions, without the (n, period) windows -------


def _sliding(values: np.ndarray, period: int) -> np.ndarray:
    """The windows the previous implementation reduced with numpy: the reference."""
    return np.lib.stride_tricks.sliding_window_view(values, period)


@pytest.mark.parametrize("period", [1, 2, 7, 8, 9, 17, 20, 50, 128, 129, 300])
def test_sma_and_bollinger_with_any_period_equal_numpy_window_reductions_bit_for_bit(
    prices, period
) -> None:
    close = prices["close"]
    windows = _sliding(close, period)
    mean, std = windows.mean(axis=1), windows.std(axis=1)
    middle, upper, lower = ind.bollinger(close, period, 2.0)
    assert np.array_equal(ind.sma(close, period)[period - 1 :], mean)
    assert np.array_equal(middle[period - 1 :], mean)
    assert np.array_equal(upper[period - 1 :], mean + 2.0 * std)
    assert np.array_equal(lower[period - 1 :], mean - 2.0 * std)


def test_bollinger_with_real_candles_equals_numpy_window_reductions(shared_data) -> None:
    from apps.market.data import load_klines

    path = shared_data_file("futures/BTCUSDT-5m.csv.gz")
    close = load_klines(path).close  # 289,152 closes: many chunks of windows
    for period in (20, 33):
        windows = _sliding(close, period)
        middle, upper, _ = ind.bollinger(close, period, 2.0)
        assert np.array_equal(middle[period - 1 :], windows.mean(axis=1))
        assert np.array_equal(upper[period - 1 :], windows.mean(axis=1) + 2.0 * windows.std(axis=1))


def test_bollinger_with_large_offset_keeps_the_variance_exact_where_cumsum_cancels() -> None:
    # A running-sum variance (E[x^2] - E[x]^2) loses every digit here; two passes keep them.
    values = 1e9 + np.tile([0.0, 1e-3, 2e-3, 1e-3], 50)
    _, upper, _ = ind.bollinger(values, 4, 1.0)
    middle = ind.sma(values, 4)
    spread = upper - middle
    assert np.allclose(spread[3:], np.std([0.0, 1e-3, 2e-3, 1e-3]), rtol=1e-4)


def test_window_statistics_of_a_live_window_equal_the_whole_history_bit_for_bit(prices) -> None:
    close = prices["close"]
    whole = ind.bollinger(close, 20, 2.0)
    for end in (20, 21, 700, 2_999):
        window = close[end - 60 if end >= 60 else 0 : end + 1]
        live = ind.bollinger(window, 20, 2.0)
        assert all(w[-1] == h[end] for w, h in zip(live, whole, strict=True))


@pytest.mark.parametrize("period", [1, 2, 5, 20, 64])
def test_rolling_max_and_min_equal_numpy_window_reductions(prices, period) -> None:
    high, low = prices["high"], prices["low"]
    top, bottom = ind.rolling_max(high, period), ind.rolling_min(low, period)
    assert np.isnan(top[: period - 1]).all() and np.isnan(bottom[: period - 1]).all()
    assert np.array_equal(top[period - 1 :], _sliding(high, period).max(axis=1))
    assert np.array_equal(bottom[period - 1 :], _sliding(low, period).min(axis=1))


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=80),
    period=st.integers(1, 40),
)
def test_window_statistics_property(values, period) -> None:
    x = np.asarray(values)
    if x.size < period:
        assert np.isnan(ind.bollinger(x, period)[0]).all()
        assert np.isnan(ind.rolling_max(x, period)).all()
        return
    windows = _sliding(x, period)
    middle, upper, _ = ind.bollinger(x, period, 1.5)
    assert np.array_equal(middle[period - 1 :], windows.mean(axis=1))
    assert np.array_equal(upper[period - 1 :], windows.mean(axis=1) + 1.5 * windows.std(axis=1))
    assert np.array_equal(ind.rolling_max(x, period)[period - 1 :], windows.max(axis=1))
    assert np.array_equal(ind.rolling_min(x, period)[period - 1 :], windows.min(axis=1))
