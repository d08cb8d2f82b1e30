"""Look-ahead guard: rerun a strategy on truncated prefixes and report every signal that changes.

A strategy that only reads closed candles gives, on candles `[0:k]`, exactly the rows `0..k-1`
it gives on the whole data. Any difference means a row used a later candle (look-ahead bias).
Floats are compared exactly (`nan` equals `nan`), since an honest strategy computes the same
expression on the same values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from .base import OHLCV, CandleArrays, Strategy

__all__ = ["LookaheadDiff", "find_lookahead", "prefix_cuts"]


class LookaheadDiff(NamedTuple):
    # the field shadows tuple.index on purpose: callers read ``diff.index`` (the candle)
    index: int  # type: ignore[assignment]
    column: str
    full_value: float | bool
    truncated_value: float | bool


def prefix_cuts(n: int, *, start: int, count: int) -> list[int]:
    """Return `count` distinct prefix lengths evenly spread over `[start, n - 1]`."""
    start = max(start, 1)
    if n - 1 < start:
        return []
    return sorted({int(k) for k in np.linspace(start, n - 1, num=max(count, 1))})


def find_lookahead(
    strategy: Strategy,
    candles: CandleArrays,
    *,
    cuts: Sequence[int] | None = None,
    count: int = 20,
    limit: int = 1000,
) -> list[LookaheadDiff]:
    """Return the `(index, column, full_value, truncated_value)` rows that differ between the
    whole data and its prefixes (`cuts`: prefix lengths; default `count` spread ones), at most
    `limit` of them. An empty list means no look-ahead was seen."""
    window = OHLCV.of(candles)
    full = strategy.evaluate(window).columns()
    if cuts is None:
        cuts = prefix_cuts(len(window), start=strategy.min_candles, count=count)
    diffs: list[LookaheadDiff] = []
    for k in cuts:
        part = strategy.evaluate(OHLCV.of(window, 0, k)).columns()
        for column, whole in full.items():
            other = part.get(column)
            if other is None:
                diffs.append(LookaheadDiff(k - 1, column, _item(whole[k - 1]), math.nan))
                continue
            head = whole[:k]
            same = (head == other) | (_nan(head) & _nan(other))
            for i in np.flatnonzero(~same).tolist():
                diffs.append(LookaheadDiff(i, column, _item(head[i]), _item(other[i])))
                if len(diffs) >= limit:
                    return diffs
    return diffs


def _nan(a: np.ndarray) -> np.ndarray:
    return np.isnan(a) if a.dtype.kind == "f" else np.zeros(a.shape, dtype=np.bool_)


def _item(value: Any) -> float | bool:
    return bool(value) if isinstance(value, np.bool_ | bool) else float(value)
