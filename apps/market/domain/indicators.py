"""Technical indicators over float64 numpy arrays: whole-series and incremental.

Every whole-series function has an incremental twin (a small class with ``update``) that computes
the same value one candle at a time, as a live loop does on its rolling window. The recursive
indicators (EMA, Wilder's RSI and ATR) use the same floating-point expression in both forms, so
their values agree bit for bit; window statistics (SMA, Bollinger) agree to rounding.

Conventions:
- Input arrays are 1-D float64 (anything array-like is converted); outputs have the input's length.
- Values that are not yet defined (fewer candles than the period needs) are ``nan``.
- EMA: ``alpha = 2 / (n + 1)``, ``ema[0] = x[0]``,
  ``ema[i] = alpha * x[i] + (1 - alpha) * ema[i-1]`` (exactly this float expression).
- Wilder smoothing (RSI, ATR): seed with the simple mean of the first ``n`` values, then
  ``avg[i] = (avg[i-1] * (n - 1) + v[i]) / n``.

Pure: numpy only, no I/O.
"""

from __future__ import annotations

import math
from collections import deque
from itertools import accumulate
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

__all__ = [
    "AtrIncremental",
    "BollingerIncremental",
    "EmaIncremental",
    "RsiIncremental",
    "SmaIncremental",
    "atr",
    "bollinger",
    "ema",
    "ema_alpha",
    "log_returns",
    "numba_available",
    "rolling_max",
    "rolling_min",
    "rsi",
    "set_numba_enabled",
    "sma",
    "true_range",
]


def _as_float_array(values: ArrayLike) -> FloatArray:
    array = np.ascontiguousarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"expected a 1-D series, got shape {array.shape}")
    return array


def _check_period(period: int) -> None:
    if int(period) != period or period < 1:
        raise ValueError(f"period must be a positive integer, got {period!r}")


def ema_alpha(period: int) -> float:
    """Return the EMA smoothing factor ``2 / (period + 1)``."""
    _check_period(period)
    return 2.0 / (period + 1.0)


# --- recursions -------------------------------------------------------------------------------
# The EMA and Wilder recursions cannot be vectorised without changing their rounding. They run as
# a C-level ``itertools.accumulate`` over a Python list (about 0.1 us per value), or, when numba is
# installed and the series is long, as a compiled loop (about 2 ns per value). Both evaluate the
# same IEEE expression in the same order (numba without fastmath does not fuse multiply-adds), so
# their results are bit-identical; the tests check this.

NUMBA_MIN_SIZE = 20_000  # below this the pure-Python path is as fast as calling numba
_numba_enabled = True
_numba_kernels: dict[str, Any] | None = None
_numba_failed = False


def _ema_kernel(values: FloatArray, alpha: float, beta: float, seed: float) -> FloatArray:
    out = np.empty(values.size)
    e = seed
    for i in range(values.size):
        e = alpha * values[i] + beta * e
        out[i] = e
    return out


def _wilder_kernel(values: FloatArray, n_minus_1: float, n: float, seed: float) -> FloatArray:
    out = np.empty(values.size)
    a = seed
    for i in range(values.size):
        a = (a * n_minus_1 + values[i]) / n
        out[i] = a
    return out


def set_numba_enabled(enabled: bool) -> None:
    """Allow or forbid the numba path (the pure-Python path is the reference)."""
    global _numba_enabled
    _numba_enabled = enabled


def numba_available() -> bool:
    """Return whether the compiled recursions can be used (imports numba on first call)."""
    return _numba_kernels_or_none() is not None


def _numba_kernels_or_none() -> dict[str, Any] | None:
    global _numba_kernels, _numba_failed
    if _numba_kernels is None and not _numba_failed:
        try:
            import numba  # optional accelerator, imported on first use
        except ImportError:
            _numba_failed = True
            return None
        try:
            jit = numba.njit(cache=True, nogil=True, fastmath=False)
            kernels = {"ema": jit(_ema_kernel), "wilder": jit(_wilder_kernel)}
        except RuntimeError:  # no writable cache location: compile in memory only
            jit = numba.njit(cache=False, nogil=True, fastmath=False)
            kernels = {"ema": jit(_ema_kernel), "wilder": jit(_wilder_kernel)}
        _numba_kernels = kernels
    return _numba_kernels


def _use_numba(size: int, backend: str) -> bool:
    if backend == "python":
        return False
    if backend == "numba":
        if _numba_kernels_or_none() is None:
            raise RuntimeError("numba is not installed")
        return True
    return _numba_enabled and size >= NUMBA_MIN_SIZE and _numba_kernels_or_none() is not None


def _ema_recursion(
    values: FloatArray, alpha: float, seed: float, backend: str = "auto"
) -> FloatArray:
    """Run ``e = alpha * v + (1 - alpha) * e`` from ``seed`` over ``values``."""
    if values.size == 0:
        return np.empty(0, dtype=np.float64)
    beta = 1.0 - alpha
    if _use_numba(values.size, backend):
        kernels = _numba_kernels_or_none()
        assert kernels is not None
        compiled: FloatArray = kernels["ema"](values, alpha, beta, seed)
        return compiled
    out = accumulate(values.tolist(), lambda e, v: alpha * v + beta * e, initial=seed)
    return np.fromiter(out, dtype=np.float64, count=values.size + 1)[1:]


def _wilder_recursion(
    values: FloatArray, period: int, seed: float, backend: str = "auto"
) -> FloatArray:
    """Run ``a = (a * (period - 1) + v) / period`` from ``seed`` over ``values``."""
    if values.size == 0:
        return np.empty(0, dtype=np.float64)
    n_minus_1, n = float(period - 1), float(period)
    if _use_numba(values.size, backend):
        kernels = _numba_kernels_or_none()
        assert kernels is not None
        compiled: FloatArray = kernels["wilder"](values, n_minus_1, n, seed)
        return compiled
    acc = accumulate(values.tolist(), lambda a, v: (a * n_minus_1 + v) / n, initial=seed)
    return np.fromiter(acc, dtype=np.float64, count=values.size + 1)[1:]


def ema(values: ArrayLike, period: int) -> FloatArray:
    """Exponential moving average, seeded with the first value (defined from index 0)."""
    x = _as_float_array(values)
    alpha = ema_alpha(period)
    out = np.empty_like(x)
    if x.size:
        out[0] = x[0]
        out[1:] = _ema_recursion(x[1:], alpha, float(x[0]))
    return out


def sma(values: ArrayLike, period: int) -> FloatArray:
    """Simple moving average over the last ``period`` values (``nan`` before index period-1)."""
    _check_period(period)
    x = _as_float_array(values)
    out = np.full(x.size, np.nan)
    if x.size >= period:
        out[period - 1 :] = _window_sums(x, period) / period
    return out


# --- window statistics --------------------------------------------------------------------
# A window's sum is numpy's ``add.reduce`` of that window alone (pairwise summation: plain up
# to 7 terms, 8 running sums up to 128, halves above), worked out for all windows at once one
# offset at a time: O(n * period) vectorised, with exactly the values of
# ``sliding_window_view(x, period).sum(axis=1)`` (the tests check it), and a window's value
# never depends on what lies before it, so a live window and the whole history agree bit for
# bit. (A running cumulative sum is O(n) but carries the rounding of everything before the
# window, and cancels catastrophically in the variance.)


def _pairwise_sums(term: Any, first: int, count: int, size: int) -> FloatArray:
    """Sum ``term(first, _) ... term(first + count - 1, _)`` (arrays of ``size``) in numpy's
    pairwise order. ``term(k, out)`` returns term ``k``, written into ``out`` when given."""
    scratch = np.empty(size)

    def fresh(k: int) -> FloatArray:
        value: FloatArray = term(k, None)
        return value.copy() if value.base is not None else value  # (added to in place)

    if count < 8:
        total = fresh(first)
        total += 0.0  # (numpy starts from 0.0)
        for k in range(first + 1, first + count):
            total += term(k, scratch)
        return total
    if count <= 128:
        sums = [fresh(first + k) for k in range(8)]
        k = 8
        while k < count - count % 8:
            for j in range(8):
                sums[j] += term(first + k + j, scratch)
            k += 8
        total = ((sums[0] + sums[1]) + (sums[2] + sums[3])) + (
            (sums[4] + sums[5]) + (sums[6] + sums[7])
        )
        for rest in range(k, count):
            total += term(first + rest, scratch)
        return total
    half = count // 2
    half -= half % 8
    return _pairwise_sums(term, first, half, size) + _pairwise_sums(
        term, first + half, count - half, size
    )


_CHUNK = 8192  # windows per pass: the arrays of a chunk stay in the CPU cache


def _window_sums(x: FloatArray, period: int) -> FloatArray:
    """The sum of every window ``x[i : i + period]`` (``x.size - period + 1`` of them)."""
    out = np.empty(x.size - period + 1)
    for start in range(0, out.size, _CHUNK):
        size = min(_CHUNK, out.size - start)
        part = x[start : start + size + period - 1]
        out[start : start + size] = _pairwise_sums(
            lambda k, _, part=part, size=size: part[k : k + size], 0, period, size
        )
    return out


def _window_mean_std(x: FloatArray, period: int) -> tuple[FloatArray, FloatArray]:
    """Mean and population standard deviation of every window, two-pass as numpy's
    ``mean`` / ``std`` (the squared deviations from the window's own mean, summed)."""
    mean = _window_sums(x, period) / period
    var = np.empty_like(mean)
    for start in range(0, mean.size, _CHUNK):
        size = min(_CHUNK, mean.size - start)
        part = x[start : start + size + period - 1]
        centre = mean[start : start + size]

        def squared_deviation(
            k: int, out: FloatArray | None, part: FloatArray = part, centre: FloatArray = centre
        ) -> FloatArray:
            d = np.subtract(part[k : k + centre.size], centre, out=out)
            return np.multiply(d, d, out=d)

        var[start : start + size] = _pairwise_sums(squared_deviation, 0, period, size)
    var /= period
    return mean, np.sqrt(var, out=var)


def rolling_max(values: ArrayLike, period: int) -> FloatArray:
    """Maximum of the last ``period`` values (``nan`` before index period-1); O(n)."""
    return _rolling_extreme(values, period, np.maximum)


def rolling_min(values: ArrayLike, period: int) -> FloatArray:
    """Minimum of the last ``period`` values (``nan`` before index period-1); O(n)."""
    return _rolling_extreme(values, period, np.minimum)


def _rolling_extreme(values: ArrayLike, period: int, pick: np.ufunc) -> FloatArray:
    """van Herk / Gil-Werman: in blocks of ``period``, the running extreme from each block's
    start and from its end; a window spans at most two blocks, the end part of one and the
    start part of the next. Exact (an extreme is one of the values)."""
    _check_period(period)
    x = _as_float_array(values)
    n = x.size
    out = np.full(n, np.nan)
    if n < period:
        return out
    blocks = -(-n // period)
    padded = np.full(blocks * period, x[-1])  # (the padding only reaches windows past the end)
    padded[:n] = x
    grid = padded.reshape(blocks, period)
    from_start = pick.accumulate(grid, axis=1).ravel()
    from_end = pick.accumulate(grid[:, ::-1], axis=1)[:, ::-1].ravel()
    out[period - 1 :] = pick(from_end[: n - period + 1], from_start[period - 1 : n])
    return out


def _wilder(values: FloatArray, period: int, first: int) -> FloatArray:
    """Wilder-smooth ``values[first:]``: mean of the first ``period``, then ``(a*(n-1)+v)/n``."""
    out = np.full(values.size, np.nan)
    start = first + period - 1
    if values.size <= start:
        return out
    seed = float(np.mean(values[first : first + period]))
    out[start] = seed
    rest = values[start + 1 :]
    if rest.size:
        out[start + 1 :] = _wilder_recursion(np.ascontiguousarray(rest), period, seed)
    return out


def _rsi_from_averages(avg_gain: FloatArray, avg_loss: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        rsi_values = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    # No losses: 100 if there were gains, 50 when the price did not move at all.
    no_loss = avg_loss == 0.0
    rsi_values[no_loss & (avg_gain > 0.0)] = 100.0
    rsi_values[no_loss & (avg_gain == 0.0)] = 50.0
    return rsi_values


def rsi(values: ArrayLike, period: int = 14) -> FloatArray:
    """Wilder's RSI in [0, 100]; defined from index ``period`` (needs ``period`` changes)."""
    _check_period(period)
    x = _as_float_array(values)
    if x.size < 2:
        return np.full(x.size, np.nan)
    change = np.empty_like(x)
    change[0] = np.nan
    change[1:] = np.diff(x)
    gains = np.where(change > 0.0, change, 0.0)
    losses = np.where(change < 0.0, -change, 0.0)
    avg_gain = _wilder(gains, period, first=1)
    avg_loss = _wilder(losses, period, first=1)
    return _rsi_from_averages(avg_gain, avg_loss)


def true_range(high: ArrayLike, low: ArrayLike, close: ArrayLike) -> FloatArray:
    """True range; the first candle has no previous close, so its range is ``high - low``."""
    h, lo, c = _as_float_array(high), _as_float_array(low), _as_float_array(close)
    if not (h.size == lo.size == c.size):
        raise ValueError("high, low and close must have the same length")
    tr = h - lo
    if tr.size > 1:
        prev_close = c[:-1]
        tr[1:] = np.maximum(
            tr[1:], np.maximum(np.abs(h[1:] - prev_close), np.abs(lo[1:] - prev_close))
        )
    return tr


def atr(high: ArrayLike, low: ArrayLike, close: ArrayLike, period: int = 14) -> FloatArray:
    """Wilder's average true range; defined from index ``period - 1``."""
    _check_period(period)
    return _wilder(true_range(high, low, close), period, first=0)


def bollinger(
    values: ArrayLike, period: int = 20, width: float = 2.0
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return ``(middle, upper, lower)``: SMA +/- ``width`` population standard deviations."""
    _check_period(period)
    x = _as_float_array(values)
    middle = np.full(x.size, np.nan)
    std = np.full(x.size, np.nan)
    if x.size >= period:
        middle[period - 1 :], std[period - 1 :] = _window_mean_std(x, period)
    return middle, middle + width * std, middle - width * std


def log_returns(values: ArrayLike) -> FloatArray:
    """Return ``log(x[i] / x[i-1])`` with ``nan`` at index 0."""
    x = _as_float_array(values)
    out = np.full(x.size, np.nan)
    if x.size > 1:
        out[1:] = np.log(x[1:] / x[:-1])
    return out


# --- incremental forms (one value at a time, as a live loop computes them) ------------------


class EmaIncremental:
    """EMA updated one value at a time; seeded with the first value."""

    def __init__(self, period: int) -> None:
        self.alpha = ema_alpha(period)
        self._beta = 1.0 - self.alpha
        self.value: float | None = None

    def update(self, x: float) -> float:
        if self.value is None:
            self.value = float(x)
        else:
            self.value = self.alpha * float(x) + self._beta * self.value
        return self.value


class SmaIncremental:
    """Mean of the last ``period`` values (``nan`` until ``period`` values were seen)."""

    def __init__(self, period: int) -> None:
        _check_period(period)
        self.period = period
        self._window: deque[float] = deque(maxlen=period)

    def update(self, x: float) -> float:
        self._window.append(float(x))
        if len(self._window) < self.period:
            return math.nan
        return math.fsum(self._window) / self.period


class _WilderIncremental:
    def __init__(self, period: int) -> None:
        _check_period(period)
        self.period = period
        self._seed: list[float] = []
        self.value: float | None = None

    def update(self, v: float) -> float:
        if self.value is None:
            self._seed.append(float(v))
            if len(self._seed) < self.period:
                return math.nan
            self.value = float(np.mean(np.asarray(self._seed)))
            self._seed = []
        else:
            self.value = (self.value * float(self.period - 1) + float(v)) / float(self.period)
        return self.value


class RsiIncremental:
    """Wilder's RSI updated one close at a time."""

    def __init__(self, period: int = 14) -> None:
        self._gain = _WilderIncremental(period)
        self._loss = _WilderIncremental(period)
        self._prev: float | None = None

    def update(self, close: float) -> float:
        close = float(close)
        prev, self._prev = self._prev, close
        if prev is None:
            return math.nan
        change = close - prev
        avg_gain = self._gain.update(change if change > 0.0 else 0.0)
        avg_loss = self._loss.update(-change if change < 0.0 else 0.0)
        if math.isnan(avg_gain):
            return math.nan
        return float(_rsi_from_averages(np.array([avg_gain]), np.array([avg_loss]))[0])


class AtrIncremental:
    """Wilder's ATR updated one candle at a time."""

    def __init__(self, period: int = 14) -> None:
        self._avg = _WilderIncremental(period)
        self._prev_close: float | None = None

    def update(self, high: float, low: float, close: float) -> float:
        tr = float(high) - float(low)
        if self._prev_close is not None:
            tr = max(tr, abs(float(high) - self._prev_close), abs(float(low) - self._prev_close))
        self._prev_close = float(close)
        return self._avg.update(tr)


class BollingerIncremental:
    """Bollinger bands over the last ``period`` closes; returns ``(middle, upper, lower)``."""

    def __init__(self, period: int = 20, width: float = 2.0) -> None:
        _check_period(period)
        self.period = period
        self.width = width
        self._window: deque[float] = deque(maxlen=period)

    def update(self, x: float) -> tuple[float, float, float]:
        self._window.append(float(x))
        if len(self._window) < self.period:
            return math.nan, math.nan, math.nan
        mean = math.fsum(self._window) / self.period
        var = math.fsum((v - mean) ** 2 for v in self._window) / self.period
        std = math.sqrt(var)
        return mean, mean + self.width * std, mean - self.width * std
