"""A/B comparison of two variants on the same days: paired tests of daily returns.

Pure: numpy and the standard library only, no Django, no clock, no I/O. Money enters as
``Decimal`` (PnL per day, capital) and every figure leaves as ``Decimal``; the arithmetic in
between runs on float64 arrays.

**Daily returns** (:func:`daily_returns`). ``P[d]`` is the net PnL booked on UTC day ``d``
(closed trades' realised PnL - fees - funding, by exit day; the caller adds what is still open
at the end of the period to its last day), ``C`` the capital. Equity ``E[d] = C + P[first..d]``
and ``r[d] = E[d] / E[d-1] - 1`` with ``E[first-1] = C``: the period return of the backtest
metrics (``apps.core.domain.metrics``), per day. A day without trades has ``r = 0``.

**The comparison** (:func:`compare_daily_returns`) of B against A (A is the control) over the
``n`` days both ran:

- figures of each side: mean daily return, Sharpe (``apps.core.domain.metrics.sharpe_ratio``,
  annualised with 365 periods: crypto trades every day), total compounded return;
- the differences ``B - A`` in Sharpe and in mean daily return;
- **p-values from a paired permutation test**: each resample swaps A's and B's return of each
  day with probability 1/2 (the days stay paired), ``resamples`` times from ``seed``;
  ``p = (1 + #{|diff*| >= |diff|}) / (1 + resamples)``, two-sided. If A and B are the same
  strategy the two labels are exchangeable day by day, so the test is exact: it calls identical
  variants different in at most ``1 - confidence`` of experiments (measured in the tests);
- **confidence intervals from a paired bootstrap**: each resample draws ``n`` days with
  replacement (the same days for A and B), ``resamples`` times from ``seed + 1``; the interval
  is the percentile interval at ``confidence``. It says how large the difference may be; the
  verdict follows the permutation test.
- **verdict** on the primary figure, the Sharpe difference: significant when its ``p < 1 -
  confidence``; otherwise the days still needed are estimated from the observed effect and its
  bootstrap standard error ``se`` (which shrinks as ``1 / sqrt(n)``): for 80 % power,
  ``n_needed = n * ((z[1 - alpha/2] + z[0.8]) * se / |diff|) ** 2``, and "about
  ``n_needed - n`` more days".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import NDArray

from apps.core.domain.metrics import periods_per_year, sharpe_ratio

__all__ = [
    "DAYS_PER_YEAR",
    "DEFAULT_RESAMPLES",
    "MIN_DAYS",
    "POWER",
    "Comparison",
    "Difference",
    "SideFigures",
    "compare_daily_returns",
    "daily_returns",
    "day_range",
]

DAY_MS = 86_400_000
DAYS_PER_YEAR = periods_per_year(DAY_MS)  # 365
DEFAULT_RESAMPLES = 2000
MIN_DAYS = 5
POWER = 0.8
MAX_DAYS_ESTIMATE = 3650


def _dec(value: float, places: int) -> Decimal:
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value}")
    return Decimal(f"{value:.{places}f}")


def day_range(first: date, last: date) -> list[date]:
    """The UTC days from ``first`` to ``last``, both included (empty when ``last < first``)."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def daily_returns(
    pnl_by_day: Mapping[date, Decimal], *, days: Sequence[date], capital: Decimal
) -> NDArray[np.float64]:
    """The daily returns ``r[d] = E[d] / E[d-1] - 1`` over ``days`` (see the module docstring).

    PnL of days outside ``days`` is ignored. Raise ValueError when the capital is not positive
    or the equity reaches zero (the return after that day is not defined).
    """
    if capital <= 0:
        raise ValueError(f"the capital must be positive, got {capital}")
    pnl = [pnl_by_day.get(day, Decimal(0)) for day in days]
    equity = [capital]
    for value in pnl:
        equity.append(equity[-1] + value)
    if any(e <= 0 for e in equity[:-1]):
        raise ValueError("the equity fell to zero or below: daily returns are not defined")
    curve = np.array([float(e) for e in equity], dtype=np.float64)
    return curve[1:] / curve[:-1] - 1.0


@dataclass(frozen=True, slots=True)
class SideFigures:
    label: str
    mean_daily_return: Decimal
    sharpe: Decimal
    total_return: Decimal


@dataclass(frozen=True, slots=True)
class Difference:
    """``B - A`` of one figure: observed, its confidence interval and its p-value."""

    observed: Decimal
    ci_low: Decimal
    ci_high: Decimal
    p_value: Decimal
    std_error: Decimal


@dataclass(frozen=True, slots=True)
class Comparison:
    label_a: str
    label_b: str
    days: int
    confidence: Decimal
    resamples: int
    seed: int
    a: SideFigures | None
    b: SideFigures | None
    sharpe_diff: Difference | None
    mean_diff: Difference | None
    significant: bool
    better: str | None
    more_days_needed: int | None
    verdict: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: Decimals as strings."""
        plain: dict[str, Any] = _jsonable(asdict(self))
        return plain


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _side(label: str, returns: NDArray[np.float64]) -> SideFigures:
    return SideFigures(
        label=label,
        mean_daily_return=_dec(float(returns.mean()), 8),
        sharpe=_dec(sharpe_ratio(returns, DAYS_PER_YEAR), 4),
        total_return=_dec(float(np.prod(1.0 + returns) - 1.0), 6),
    )


def _sharpe_diffs(a_rows: NDArray[np.float64], b_rows: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.array(
        [
            sharpe_ratio(b, DAYS_PER_YEAR) - sharpe_ratio(a, DAYS_PER_YEAR)
            for a, b in zip(a_rows, b_rows, strict=True)
        ]
    )


def _difference(
    observed: float,
    permuted: NDArray[np.float64],
    booted: NDArray[np.float64],
    confidence: float,
    places: int,
) -> Difference:
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(booted, [tail, 1.0 - tail])
    # a tiny tolerance: a permuted value equal to the observed one up to rounding counts as equal
    extreme = np.abs(permuted) >= abs(observed) - 1e-12 * max(1.0, abs(observed))
    p = (1.0 + float(np.count_nonzero(extreme))) / (1.0 + permuted.size)
    return Difference(
        observed=_dec(observed, places),
        ci_low=_dec(float(low), places),
        ci_high=_dec(float(high), places),
        p_value=_dec(p, 4),
        std_error=_dec(float(booted.std(ddof=1)), places),
    )


def _percent(confidence: float) -> str:
    return f"{confidence * 100:g} %"


def compare_daily_returns(
    a: Sequence[float] | NDArray[np.float64],
    b: Sequence[float] | NDArray[np.float64],
    *,
    label_a: str = "A",
    label_b: str = "B",
    confidence: Decimal = Decimal("0.95"),
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    min_days: int = MIN_DAYS,
) -> Comparison:
    """Compare B's daily returns with A's, day by day (see the module docstring).

    ``a`` and ``b`` hold the returns of the same days in the same order. Raise ValueError on
    arrays of different lengths, non-finite returns, a confidence outside (0.5, 1) or fewer
    than 100 resamples.
    """
    ra = np.asarray(a, dtype=np.float64)
    rb = np.asarray(b, dtype=np.float64)
    if ra.ndim != 1 or ra.shape != rb.shape:
        raise ValueError(f"A and B need the same days: {ra.shape} vs {rb.shape} returns")
    if not (np.all(np.isfinite(ra)) and np.all(np.isfinite(rb))):
        raise ValueError("daily returns must be finite numbers")
    level = float(confidence)
    if not 0.5 < level < 1.0:
        raise ValueError(f"the confidence must be between 0.5 and 1, got {confidence}")
    if resamples < 100:
        raise ValueError(f"at least 100 resamples are needed, got {resamples}")
    n = int(ra.size)
    common = Comparison(
        label_a=label_a,
        label_b=label_b,
        days=n,
        confidence=confidence,
        resamples=resamples,
        seed=seed,
        a=None,
        b=None,
        sharpe_diff=None,
        mean_diff=None,
        significant=False,
        better=None,
        more_days_needed=None,
        verdict="",
    )
    if n < max(2, min_days):
        return replace(
            common,
            a=_side(label_a, ra) if n else None,
            b=_side(label_b, rb) if n else None,
            sharpe_diff=None,
            mean_diff=None,
            significant=False,
            better=None,
            more_days_needed=max(2, min_days) - n,
            verdict=f"too early: {n} day(s) of returns so far, at least {max(2, min_days)} "
            "are needed for a test",
        )

    # Paired permutation: swap the two returns of a day with probability 1/2.
    swap = np.random.default_rng(seed).random((resamples, n)) < 0.5
    perm_a = np.where(swap, rb, ra)
    perm_b = np.where(swap, ra, rb)
    # Paired bootstrap: the same days for both sides.
    days = np.random.default_rng(seed + 1).integers(0, n, size=(resamples, n))
    boot_a, boot_b = ra[days], rb[days]

    sharpe_obs = sharpe_ratio(rb, DAYS_PER_YEAR) - sharpe_ratio(ra, DAYS_PER_YEAR)
    mean_obs = float(rb.mean() - ra.mean())
    sharpe_diff = _difference(
        sharpe_obs, _sharpe_diffs(perm_a, perm_b), _sharpe_diffs(boot_a, boot_b), level, 4
    )
    mean_diff = _difference(
        mean_obs,
        perm_b.mean(axis=1) - perm_a.mean(axis=1),
        boot_b.mean(axis=1) - boot_a.mean(axis=1),
        level,
        8,
    )

    alpha = 1.0 - level
    significant = float(sharpe_diff.p_value) < alpha and sharpe_obs != 0.0
    better: str | None = None
    more: int | None = None
    pct = _percent(level)
    if np.array_equal(ra, rb):
        verdict = (
            f"no difference: {label_a} and {label_b} returned exactly the same on each of "
            f"the {n} days"
        )
    elif significant:
        better, worse = (label_b, label_a) if sharpe_obs > 0 else (label_a, label_b)
        verdict = f"{better} is better than {worse} with {pct} confidence"
    else:
        se = float(sharpe_diff.std_error)
        if sharpe_obs == 0.0 or se == 0.0:
            verdict = (
                f"no significant difference at {pct} confidence; the observed Sharpe "
                "difference is zero, so no number of days can be estimated"
            )
        else:
            z = NormalDist().inv_cdf(1.0 - alpha / 2.0) + NormalDist().inv_cdf(POWER)
            needed = n * (z * se / abs(sharpe_obs)) ** 2
            more = max(1, math.ceil(needed - n))
            leader = label_b if sharpe_obs > 0 else label_a
            if more > MAX_DAYS_ESTIMATE:
                verdict = (
                    f"no significant difference at {pct} confidence; the observed difference "
                    f"is too small to confirm within {MAX_DAYS_ESTIMATE} more days "
                    f"({leader} leads)"
                )
            else:
                verdict = (
                    f"no significant difference yet at {pct} confidence ({leader} leads); "
                    f"about {more} more day(s) needed"
                )
    return replace(
        common,
        a=_side(label_a, ra),
        b=_side(label_b, rb),
        sharpe_diff=sharpe_diff,
        mean_diff=mean_diff,
        significant=significant,
        better=better,
        more_days_needed=more,
        verdict=verdict,
    )
