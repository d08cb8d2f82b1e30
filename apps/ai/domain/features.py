"""Features of closed candles for the AI models, one function for a series and for the last candle.

Every feature at candle ``i`` is a function of the candles ``i - lookback + 1 .. i`` only (no
recursive indicator with an infinite memory, no future candle), computed on fixed-length sliding
windows. So the value of a candle is the same whether it is computed inside a whole history
(training, backtests: ``compute_features``) or at the end of a live window of ``lookback``
candles (``last_features``), bit for bit, and truncating the data never changes the features of
earlier candles. The first ``lookback - 1`` rows of a series are ``nan`` (not enough history).

The features (``FeatureSpec.names``):
- ``ret_k``: log return over ``k`` candles, for each horizon;
- ``vol``: standard deviation of the 1-candle log returns over ``vol_window``;
- ``vol_ratio``: that over the ``fast_vol`` window divided by it (volatility regime);
- ``rsi``: Cutler's RSI over ``rsi_window`` (simple averages of gains and losses), in [-1, 1];
- ``bb_pctb``: position in the Bollinger band (``bb_window``, 2 standard deviations), 0.5 = mid;
- ``sma_dist_n``: ``close / SMA(n) - 1`` for each SMA window, and ``sma_cross`` the fast SMA over
  the slow one minus 1;
- ``volume_z``: z-score of the log volume over ``volume_window``;
- ``range``: ``(high - low) / close``; ``body``: ``(close - open) / close``.

Normalisation (``Normalizer``) uses statistics of the training rows only, saved with the model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from apps.strategies.domain.base import OHLCV, CandleArrays

FloatArray = NDArray[np.float64]
CLIP = 5.0


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """Which features, over which windows (stored with every model)."""

    version: int = 1
    return_horizons: tuple[int, ...] = (1, 3, 6, 12, 24)
    vol_window: int = 24
    fast_vol: int = 6
    rsi_window: int = 14
    bb_window: int = 20
    sma_windows: tuple[int, int] = (20, 50)
    volume_window: int = 48

    def __post_init__(self) -> None:
        windows = (
            *self.return_horizons,
            self.vol_window,
            self.fast_vol,
            self.rsi_window,
            self.bb_window,
            *self.sma_windows,
            self.volume_window,
        )
        if any(int(w) != w or w < 1 for w in windows):
            raise ValueError(f"feature windows must be positive integers, got {windows}")
        if self.fast_vol >= self.vol_window:
            raise ValueError("fast_vol must be shorter than vol_window")
        if len(self.sma_windows) != 2 or self.sma_windows[0] >= self.sma_windows[1]:
            raise ValueError("sma_windows must be (fast, slow) with fast < slow")

    @property
    def lookback(self) -> int:
        """Candles one feature row needs (the first row of a series with all of them)."""
        return 1 + max(
            max(self.return_horizons),
            self.vol_window,
            self.rsi_window,
            self.bb_window - 1,
            max(self.sma_windows) - 1,
            self.volume_window - 1,
        )

    @property
    def names(self) -> tuple[str, ...]:
        fast, slow = self.sma_windows
        return (
            *(f"ret_{k}" for k in self.return_horizons),
            "vol",
            "vol_ratio",
            "rsi",
            "bb_pctb",
            f"sma_dist_{fast}",
            f"sma_dist_{slow}",
            "sma_cross",
            "volume_z",
            "range",
            "body",
        )

    @property
    def size(self) -> int:
        return len(self.names)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        values = dict(data)
        values["return_horizons"] = tuple(values.get("return_horizons", (1, 3, 6, 12, 24)))
        values["sma_windows"] = tuple(values.get("sma_windows", (20, 50)))
        return cls(**values)


def _rolling(values: FloatArray, window: int, n: int) -> NDArray[np.float64]:
    """The windows ending at each candle, aligned to ``n`` rows (nan rows before the first)."""
    out = np.full((n, window), np.nan)
    if values.size >= window:
        view = sliding_window_view(values, window)
        out[n - view.shape[0] :] = view
    return out


def _mean(values: FloatArray, window: int, n: int) -> FloatArray:
    mean: FloatArray = _rolling(values, window, n).mean(axis=1)
    return mean


def _std(values: FloatArray, window: int, n: int) -> FloatArray:
    std: FloatArray = _rolling(values, window, n).std(axis=1)
    return std


def compute_features(candles: CandleArrays, spec: FeatureSpec | None = None) -> FloatArray:
    """The ``(n, spec.size)`` features of every candle (``nan`` rows before ``lookback``)."""
    spec = spec or FeatureSpec()
    c = OHLCV.of(candles)
    n = len(c)
    close = np.asarray(c.close, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_close = np.log(close)
        step = np.full(n, np.nan)
        step[1:] = np.diff(log_close)  # the 1-candle log return ending at each candle
        columns: list[FloatArray] = []
        for k in spec.return_horizons:
            ret = np.full(n, np.nan)
            ret[k:] = log_close[k:] - log_close[:-k]
            columns.append(ret)
        vol = _std(step, spec.vol_window, n)
        columns.append(vol)
        columns.append(_std(step, spec.fast_vol, n) / vol)
        change = np.full(n, np.nan)
        change[1:] = np.diff(close)
        gains = _mean(np.where(change > 0, change, 0.0), spec.rsi_window, n)
        losses = _mean(np.where(change < 0, -change, 0.0), spec.rsi_window, n)
        total = gains + losses
        rsi = np.where(total > 0, (gains - losses) / np.where(total > 0, total, 1.0), 0.0)
        rsi[np.isnan(total)] = np.nan
        columns.append(rsi)
        bb_mean = _mean(close, spec.bb_window, n)
        bb_std = _std(close, spec.bb_window, n)
        width = 4.0 * bb_std
        pctb = np.where(width > 0, (close - (bb_mean - 2.0 * bb_std)) / width, 0.5)
        pctb[np.isnan(width)] = np.nan
        columns.append(pctb)
        fast = _mean(close, spec.sma_windows[0], n)
        slow = _mean(close, spec.sma_windows[1], n)
        columns.append(close / fast - 1.0)
        columns.append(close / slow - 1.0)
        columns.append(fast / slow - 1.0)
        log_volume = np.log1p(np.maximum(np.asarray(c.volume, dtype=np.float64), 0.0))
        v_mean = _mean(log_volume, spec.volume_window, n)
        v_std = _std(log_volume, spec.volume_window, n)
        vz = np.where(v_std > 0, (log_volume - v_mean) / np.where(v_std > 0, v_std, 1.0), 0.0)
        vz[np.isnan(v_std)] = np.nan
        columns.append(vz)
        columns.append((np.asarray(c.high) - np.asarray(c.low)) / close)
        columns.append((close - np.asarray(c.open)) / close)
    out: FloatArray = np.column_stack(columns)
    out[: spec.lookback - 1] = np.nan  # every feature of a row, or none
    return out


def last_features(candles: CandleArrays, spec: FeatureSpec | None = None) -> FloatArray:
    """The features of the last candle, from its last ``lookback`` candles (live)."""
    spec = spec or FeatureSpec()
    window = OHLCV.of(candles)
    if len(window) < spec.lookback:
        raise ValueError(f"features need {spec.lookback} closed candles, got {len(window)}")
    last: FloatArray = compute_features(OHLCV.of(window, len(window) - spec.lookback), spec)[-1]
    return last


@dataclass(frozen=True, slots=True)
class Normalizer:
    """Per-feature mean and standard deviation of the training rows; values are clipped."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    clip: float = CLIP

    @classmethod
    def fit(cls, rows: FloatArray) -> Normalizer:
        """Fit on the training rows (rows with a ``nan`` are left out)."""
        good = rows[np.all(np.isfinite(rows), axis=1)]
        if good.shape[0] < 2:
            raise ValueError("too few complete feature rows to fit a normaliser")
        std = good.std(axis=0)
        std = np.where(std > 1e-12, std, 1.0)
        return cls(tuple(good.mean(axis=0).tolist()), tuple(std.tolist()))

    def apply(self, rows: FloatArray) -> NDArray[np.float32]:
        """Normalised rows as float32 (``nan`` rows become 0: callers mask them)."""
        scaled: FloatArray = (rows - np.asarray(self.mean)) / np.asarray(self.std)
        scaled = np.clip(np.nan_to_num(scaled, nan=0.0), -self.clip, self.clip)
        return scaled.astype(np.float32)

    def as_dict(self) -> dict[str, Any]:
        return {"mean": list(self.mean), "std": list(self.std), "clip": self.clip}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Normalizer:
        return cls(tuple(data["mean"]), tuple(data["std"]), float(data.get("clip", CLIP)))


@dataclass(frozen=True, slots=True)
class FeatureSet:
    """Features of a series: the raw rows, which rows are complete, the normalised matrix."""

    raw: FloatArray
    valid: NDArray[np.bool_]
    scaled: NDArray[np.float32] = field(repr=False)

    @classmethod
    def of(cls, candles: CandleArrays, spec: FeatureSpec, normalizer: Normalizer) -> FeatureSet:
        raw = compute_features(candles, spec)
        valid = np.all(np.isfinite(raw), axis=1)
        return cls(raw, valid, normalizer.apply(raw))
