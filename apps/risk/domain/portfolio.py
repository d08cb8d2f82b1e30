"""PortfolioManager: the correlation gate that keeps the book from stacking one bet.

Correlation matrix: for each symbol, `(open_times, closes)` arrays (open_time in integer ms
UTC, ascending and unique). The series are aligned on the intersection of their open times, the
last `lookback` common candles (100 by default) are kept, and the Pearson correlation of their
log returns ln(C_t / C_{t-1}) is computed (`lookback - 1` returns). Where a symbol misses
candles, a return spans the gap; that is kept as it is. A constant series (an exchange outage)
has no defined correlation: its entries are NaN and never block.

Entry gate: a new position and an open one are exposed to the same move when their price
correlation, signed by the two directions, is high. The gate uses
    position correlation = corr(a, b) * (+1 if same direction else -1)
and blocks when it is above the threshold (strictly). So:

- long ETH while long BTC with corr 0.9: 0.9 > 0.8, blocked (the same bet twice);
- short ETH while long BTC with corr 0.9: -0.9, allowed: opposite directions on highly
  correlated coins are a hedge;
- long A while short B with corr -0.9: +0.9, blocked (also the same bet twice).

An open position in the same symbol and direction counts as correlation 1.0 (no stacking
through the gate). A pair missing from the matrix blocks by default (`block_on_missing`): the
gate cannot vouch for what it cannot see. The reason string always names the figure. The
adapter caches the matrix (1 hour, see `apps.risk.services.correlation_matrix_current`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from apps.risk.domain.types import Direction

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
CandleSeries = tuple[npt.ArrayLike, npt.ArrayLike]
OpenPositionRef = tuple[str, Direction | str]

DEFAULT_THRESHOLD = 0.8


@dataclass(frozen=True, slots=True)
class CorrelationMatrix:
    symbols: tuple[str, ...]
    values: FloatArray
    returns_used: int
    start_time_ms: int
    end_time_ms: int

    def __contains__(self, symbol: object) -> bool:
        return symbol in self.symbols

    def get(self, a: str, b: str) -> float | None:
        """Return corr(a, b) (NaN if undefined), or None if either symbol is absent."""
        if a not in self.symbols or b not in self.symbols:
            return None
        return float(self.values[self.symbols.index(a), self.symbols.index(b)])

    def as_dict(self) -> dict[str, dict[str, float | None]]:
        """Return the matrix as nested plain dicts (NaN as None), e.g. for JSON or a cache."""
        return {
            a: {
                b: None if np.isnan(self.values[i, j]) else float(self.values[i, j])
                for j, b in enumerate(self.symbols)
            }
            for i, a in enumerate(self.symbols)
        }


@dataclass(frozen=True, slots=True)
class GateDecision:
    allowed: bool
    blocking_symbol: str | None
    correlation: float | None
    reason: str


def align_closes(
    series: Mapping[str, CandleSeries], lookback: int
) -> tuple[tuple[str, ...], IntArray, FloatArray]:
    """Return symbols, the last `lookback` common open times and a (times x symbols) close matrix.

    Raise ValueError on malformed series.
    """
    if lookback < 2:
        raise ValueError(f"lookback must be at least 2 candles, got {lookback}")
    if not series:
        raise ValueError("no series given")
    symbols = tuple(series)
    times_list: list[IntArray] = []
    closes_list: list[FloatArray] = []
    for symbol in symbols:
        times = np.asarray(series[symbol][0], dtype=np.int64)
        closes = np.asarray(series[symbol][1], dtype=np.float64)
        if times.ndim != 1 or closes.ndim != 1 or len(times) != len(closes):
            raise ValueError(f"{symbol}: open_times and closes must be 1-D arrays of equal length")
        if len(times) > 1 and not (np.diff(times) > 0).all():
            raise ValueError(f"{symbol}: open_times must be strictly ascending")
        if not (np.isfinite(closes).all() and (closes > 0).all()):
            raise ValueError(f"{symbol}: closes must be finite and positive")
        times_list.append(times)
        closes_list.append(closes)
    common = times_list[0]
    for times in times_list[1:]:
        common = np.intersect1d(common, times, assume_unique=True)
    common = common[-lookback:]
    matrix = np.empty((len(common), len(symbols)), dtype=np.float64)
    for k, (times, closes) in enumerate(zip(times_list, closes_list, strict=True)):
        matrix[:, k] = closes[np.searchsorted(times, common)]
    return symbols, common, matrix


def correlation_matrix(
    series: Mapping[str, CandleSeries], lookback: int = 100, min_returns: int = 20
) -> CorrelationMatrix:
    """Correlate log returns of the last `lookback` common candles; raise ValueError if too few."""
    symbols, times, closes = align_closes(series, lookback)
    returns = np.diff(np.log(closes), axis=0)
    if len(returns) < min_returns:
        raise ValueError(
            f"only {len(returns)} common returns for {', '.join(symbols)}; need {min_returns}"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.atleast_2d(np.corrcoef(returns, rowvar=False))
    return CorrelationMatrix(
        symbols=symbols,
        values=values,
        returns_used=len(returns),
        start_time_ms=int(times[0]),
        end_time_ms=int(times[-1]),
    )


def check_entry(
    symbol: str,
    direction: Direction | str,
    open_positions: Sequence[OpenPositionRef],
    matrix: CorrelationMatrix | None,
    threshold: float = DEFAULT_THRESHOLD,
    block_on_missing: bool = True,
) -> GateDecision:
    """Decide whether an entry may open next to `open_positions`; see the module docstring."""
    if not -1.0 <= threshold <= 1.0:
        raise ValueError(f"correlation threshold must be in [-1, 1], got {threshold}")
    direction = Direction(direction)
    worst: tuple[float, str, float, Direction] | None = None
    missing: list[str] = []
    for other, other_direction_raw in open_positions:
        other_direction = Direction(other_direction_raw)
        sign = 1.0 if other_direction is direction else -1.0
        if other == symbol:
            corr: float | None = 1.0
        else:
            corr = None if matrix is None else matrix.get(symbol, other)
        if corr is None:
            missing.append(other)
            continue
        if np.isnan(corr):
            continue
        effective = corr * sign
        if worst is None or effective > worst[0]:
            worst = (effective, other, corr, other_direction)
    if worst is not None and worst[0] > threshold:
        effective, other, corr, other_direction = worst
        return GateDecision(
            allowed=False,
            blocking_symbol=other,
            correlation=corr,
            reason=(
                f"{direction.value} {symbol} blocked: correlation {corr:+.3f} with open "
                f"{other_direction.value} {other} (same-bet {effective:+.3f} > {threshold:.3f})"
            ),
        )
    if missing and block_on_missing:
        return GateDecision(
            allowed=False,
            blocking_symbol=missing[0],
            correlation=None,
            reason=f"{direction.value} {symbol} blocked: no correlation data with {missing[0]}",
        )
    if worst is None:
        return GateDecision(
            allowed=True,
            blocking_symbol=None,
            correlation=None,
            reason=f"{direction.value} {symbol} allowed: no comparable open position",
        )
    effective, other, corr, other_direction = worst
    return GateDecision(
        allowed=True,
        blocking_symbol=None,
        correlation=corr,
        reason=(
            f"{direction.value} {symbol} allowed: highest same-bet correlation {effective:+.3f} "
            f"(corr {corr:+.3f} with {other_direction.value} {other}) <= {threshold:.3f}"
        ),
    )


class PortfolioManager:
    """Holds the correlation settings; the adapter caches `correlation_matrix` for an hour."""

    def __init__(
        self,
        lookback: int = 100,
        threshold: float = DEFAULT_THRESHOLD,
        min_returns: int = 20,
        block_on_missing: bool = True,
    ) -> None:
        if lookback < 2:
            raise ValueError(f"lookback must be at least 2 candles, got {lookback}")
        if not -1.0 <= threshold <= 1.0:
            raise ValueError(f"correlation threshold must be in [-1, 1], got {threshold}")
        self.lookback = lookback
        self.threshold = threshold
        self.min_returns = min_returns
        self.block_on_missing = block_on_missing

    def correlation_matrix(self, series: Mapping[str, CandleSeries]) -> CorrelationMatrix:
        return correlation_matrix(series, self.lookback, self.min_returns)

    def check_entry(
        self,
        symbol: str,
        direction: Direction | str,
        open_positions: Sequence[OpenPositionRef],
        matrix: CorrelationMatrix | None,
        threshold: float | None = None,
    ) -> GateDecision:
        return check_entry(
            symbol,
            direction,
            open_positions,
            matrix,
            self.threshold if threshold is None else threshold,
            self.block_on_missing,
        )
