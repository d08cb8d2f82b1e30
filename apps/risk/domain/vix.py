"""CryptoVIX: a 0-100 volatility score from BTC 1h candles that scales position size down.

Estimator (over the last `lookback` candles, 100 by default):

- close-to-close variance: sample variance (ddof=1) of the log returns ln(C_t / C_{t-1})
  between consecutive closes in the window (`lookback - 1` returns);
- Garman-Klass variance: mean over the window of
  0.5 * ln(H/L)^2 - (2 ln 2 - 1) * ln(C/O)^2 per candle (always >= 0, since |ln(C/O)| <= ln(H/L));
- blended hourly variance = w * close_to_close + (1 - w) * garman_klass, w = 0.5 by default;
- annualised volatility = sqrt(blended variance * periods_per_year), 24 * 365 for 1h candles
  (crypto trades around the clock).

Close-to-close catches moves between candles; Garman-Klass uses the intra-candle range, which
is about 7 times as efficient for a driftless random walk and reacts to a crash wick that closes
back near its open. Blending the two keeps either from dominating a quiet-close/wild-range window.

Scaling to a score: a fixed log-linear mapping with clamp,
    score = 100 * ln(vol / vol_floor) / ln(vol_ceiling / vol_floor), clamped to [0, 100],
with vol_floor = 15 % and vol_ceiling = 200 % a year by default. A fixed mapping (rather than a
percentile within a rolling history) gives the same score for the same candles whatever history
is loaded, which keeps live, backtest and replay in agreement. Calibration on Binance BTCUSDT
perpetual 1h candles 2019-09 .. 2025-09 (every 100-candle window): the blended vol's 5th, 50th,
95th and 99th percentiles are about 27 %, 52 %, 118 % and 172 %, i.e. scores of about 22, 48, 80
and 94; the score is <= 50 in 56 % of windows, <= 70 in 89 %, <= 85 in 97 %.

Default bands (score <= max_score -> size multiplier): 50 -> 1.0 (normal, vol <= ~55 %),
70 -> 0.75 (elevated, vol <= ~92 %), 85 -> 0.5 (high, vol <= ~136 %), 100 -> 0.25 (extreme).

Zero-volume outage candles (H = L = O = C) contribute zero range and a zero return; they are
kept as they are. Caching is the adapter's job (see `apps.risk.services.vix_current`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike

HOURS_PER_YEAR = 24 * 365
_GK_CLOSE_OPEN = 2.0 * math.log(2.0) - 1.0


@dataclass(frozen=True, slots=True)
class VolatilityBand:
    """Scores up to `max_score` (inclusive) scale position size by `size_multiplier`."""

    max_score: float
    size_multiplier: Decimal
    name: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.max_score <= 100:
            raise ValueError(f"band max_score must be in [0, 100], got {self.max_score}")
        if not Decimal(0) < self.size_multiplier <= 1:
            raise ValueError(f"band size_multiplier must be in (0, 1], got {self.size_multiplier}")


DEFAULT_BANDS: tuple[VolatilityBand, ...] = (
    VolatilityBand(50.0, Decimal("1"), "normal"),
    VolatilityBand(70.0, Decimal("0.75"), "elevated"),
    VolatilityBand(85.0, Decimal("0.5"), "high"),
    VolatilityBand(100.0, Decimal("0.25"), "extreme"),
)


@dataclass(frozen=True, slots=True)
class VixReading:
    score: float
    annualised_vol: float
    band: VolatilityBand
    size_multiplier: Decimal
    close_to_close_vol: float
    garman_klass_vol: float
    candles: int


def validate_bands(bands: Sequence[VolatilityBand]) -> tuple[VolatilityBand, ...]:
    """Return bands as a tuple; raise ValueError unless ascending, ending at 100, non-increasing."""
    result = tuple(bands)
    if not result:
        raise ValueError("at least one volatility band is needed")
    for prev, cur in itertools.pairwise(result):
        if cur.max_score <= prev.max_score:
            raise ValueError("volatility bands must have strictly ascending max_score")
        if cur.size_multiplier > prev.size_multiplier:
            raise ValueError("volatility band size multipliers must not increase with the score")
    if result[-1].max_score != 100:
        raise ValueError("the last volatility band must end at max_score 100")
    return result


class CryptoVIX:
    """Score BTC candles 0-100 and pick the position-size band; see the module docstring."""

    def __init__(
        self,
        lookback: int = 100,
        bands: Sequence[VolatilityBand] = DEFAULT_BANDS,
        vol_floor: float = 0.15,
        vol_ceiling: float = 2.0,
        close_to_close_weight: float = 0.5,
        periods_per_year: int = HOURS_PER_YEAR,
        min_candles: int = 20,
    ) -> None:
        if min_candles < 3:
            raise ValueError(f"min_candles must be at least 3, got {min_candles}")
        if lookback < min_candles:
            raise ValueError(
                f"lookback must be at least min_candles ({min_candles}), got {lookback}"
            )
        if not 0 < vol_floor < vol_ceiling:
            raise ValueError(f"need 0 < vol_floor < vol_ceiling, got {vol_floor}, {vol_ceiling}")
        if not 0 <= close_to_close_weight <= 1:
            raise ValueError(
                f"close_to_close_weight must be in [0, 1], got {close_to_close_weight}"
            )
        if periods_per_year <= 0:
            raise ValueError(f"periods_per_year must be positive, got {periods_per_year}")
        self.lookback = lookback
        self.bands = validate_bands(bands)
        self.vol_floor = vol_floor
        self.vol_ceiling = vol_ceiling
        self.close_to_close_weight = close_to_close_weight
        self.periods_per_year = periods_per_year
        self.min_candles = min_candles

    def score(
        self, highs: ArrayLike, lows: ArrayLike, opens: ArrayLike, closes: ArrayLike
    ) -> VixReading:
        """Score the last `lookback` candles; raise ValueError on too few or invalid candles."""
        h, lo, o, c = _as_candles(highs, lows, opens, closes)
        n = min(len(c), self.lookback)
        if n < self.min_candles:
            raise ValueError(f"CryptoVIX needs at least {self.min_candles} candles, got {len(c)}")
        h, lo, o, c = h[-n:], lo[-n:], o[-n:], c[-n:]
        returns = np.diff(np.log(c))
        cc_var = float(np.var(returns, ddof=1))
        gk_var = float(np.mean(_gk_terms(h, lo, o, c)))
        vol = self._annualise(self._blend(cc_var, gk_var))
        score = self.score_from_vol(vol)
        band = self.band_for(score)
        return VixReading(
            score=score,
            annualised_vol=vol,
            band=band,
            size_multiplier=band.size_multiplier,
            close_to_close_vol=self._annualise(cc_var),
            garman_klass_vol=self._annualise(gk_var),
            candles=n,
        )

    def score_series(
        self, highs: ArrayLike, lows: ArrayLike, opens: ArrayLike, closes: ArrayLike
    ) -> FloatArray:
        """Return the score at every candle over a full-lookback window (NaN before that).

        Vectorised for backtests; for i >= lookback - 1, element i equals `score(...)` on
        candles `[: i + 1]`.
        """
        h, lo, o, c = _as_candles(highs, lows, opens, closes)
        n = self.lookback
        out = np.full(len(c), np.nan)
        if len(c) < n:
            return out
        returns = np.diff(np.log(c))
        cc_var = sliding_window_view(returns, n - 1).var(axis=1, ddof=1)
        gk_var = sliding_window_view(_gk_terms(h, lo, o, c), n).mean(axis=1)
        blended = self.close_to_close_weight * cc_var + (1 - self.close_to_close_weight) * gk_var
        vol = np.sqrt(np.maximum(blended, 0.0) * self.periods_per_year)
        out[n - 1 :] = self._scores(vol)
        return out

    def score_from_vol(self, annualised_vol: float) -> float:
        """Map an annualised volatility (0.5 = 50 %) to the clamped 0-100 score."""
        return float(self._scores(np.asarray([annualised_vol], dtype=np.float64))[0])

    def band_for(self, score: float) -> VolatilityBand:
        for band in self.bands:
            if score <= band.max_score:
                return band
        return self.bands[-1]

    def _scores(self, vol: FloatArray) -> FloatArray:
        span = math.log(self.vol_ceiling / self.vol_floor)
        with np.errstate(divide="ignore"):
            raw = 100.0 * np.log(vol / self.vol_floor) / span
        return np.clip(raw, 0.0, 100.0)

    def _blend(self, cc_var: float, gk_var: float) -> float:
        w = self.close_to_close_weight
        return w * cc_var + (1 - w) * gk_var

    def _annualise(self, variance: float) -> float:
        return math.sqrt(max(variance, 0.0) * self.periods_per_year)


def _gk_terms(h: FloatArray, lo: FloatArray, o: FloatArray, c: FloatArray) -> FloatArray:
    hl = np.log(h / lo)
    co = np.log(c / o)
    return 0.5 * hl * hl - _GK_CLOSE_OPEN * co * co


def _as_candles(
    highs: ArrayLike, lows: ArrayLike, opens: ArrayLike, closes: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    arrays = tuple(np.asarray(a, dtype=np.float64) for a in (highs, lows, opens, closes))
    h, lo, o, c = arrays
    if any(a.ndim != 1 for a in arrays):
        raise ValueError("candle arrays must be one-dimensional")
    if not len(h) == len(lo) == len(o) == len(c):
        raise ValueError(
            f"candle arrays differ in length: highs {len(h)}, lows {len(lo)}, "
            f"opens {len(o)}, closes {len(c)}"
        )
    if not all(np.isfinite(a).all() and (a > 0).all() for a in arrays):
        raise ValueError("candle prices must be finite and positive")
    if (h < lo).any() or (h < np.maximum(o, c)).any() or (lo > np.minimum(o, c)).any():
        raise ValueError("candles must satisfy low <= open, close <= high")
    return h, lo, o, c
