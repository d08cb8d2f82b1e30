"""Event-driven backtest kernel for long positions with a stop-loss / take-profit bracket.

A strategy hands the kernel two sorted arrays of candle indices: ``entry_signals`` (a buy signal at
the close of that candle) and ``exit_signals`` (a sell signal at the close). The kernel plays the
position rules; it never walks candle by candle.

Rules (one position at a time, long only):
- Flat and an entry signal at the close of candle ``i`` (``i <= n - 2``): buy at ``open[i + 1]``.
  Quantity is ``stake / entry_price``; the entry candle is ``i + 1``.
- Long and an exit signal at the close of candle ``i`` (``i <= n - 2``): sell at ``open[i + 1]``.
  This pending exit happens at the open, before the intrabar checks of candle ``i + 1``.
- Long, on every candle from the entry candle on: stop-loss if ``low <= stop`` (filled at
  ``min(open, stop)``), otherwise take-profit if ``high >= target`` (filled at
  ``max(open, target)``); the stop is assumed to come first when both are touched.
  ``stop = entry * (1 - stop_loss)``, ``target = entry * (1 + take_profit)``; ``None`` disables
  either.
- After a stop/target exit in candle ``j`` the position is flat at the close of ``j``, so an entry
  signal at ``j`` is taken. Signals of the wrong side for the current state are ignored.
- A position still open after the last candle is closed at the last close (reason ``end``).
- Fees: ``fee`` (the taker fee) times the notional on each side, charged on top, except that a
  take-profit exit (a resting limit order) pays ``maker_fee`` (``None``: ``fee``):
  ``fees = fee * qty * entry + exit_fee * qty * exit`` and ``pnl = qty * (exit - entry) - fees``.
  The default ``fee`` is the platform's taker fee (``apps.exchange.domain.fees``).

Two interchangeable methods produce identical trades:
- ``"batch"`` (default): every candidate entry is resolved at once (its first stop/target touch is
  found by one vectorised scan over the concatenated candidate windows, its exit signal by
  ``searchsorted``), then a short pointer walk over the candidates picks the trades actually taken.
  Valid because a candidate's outcome depends only on its entry candle (fixed stake and bracket).
- ``"events"``: a plain event loop, a few numpy calls per trade: jump to the next entry signal, then
  to the first candle touching the stop or target (chunked search with doubling chunks) or to the
  next exit signal, whichever is first. This is the general core for strategies whose sizing or
  levels depend on state (equity, risk gate; see ``sizer``); it is also the reference for the
  batch method.

Short positions, levels from a strategy's signals, leverage, liquidation, book slippage and the
other intrabar orders are in ``signal_kernel`` (the general kernel), which reproduces these
trades exactly under these rules.

Pure: numpy only, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from apps.exchange.domain.fees import DEFAULT_TAKER_FEE

__all__ = [
    "EXIT_REASONS",
    "REASON_END",
    "REASON_LIQUIDATION",
    "REASON_SIGNAL",
    "REASON_STOP_LOSS",
    "REASON_TAKE_PROFIT",
    "REASON_TRAILING",
    "BracketParams",
    "EntrySizer",
    "Trade",
    "TradeLog",
    "equity_curve",
    "first_touch",
    "first_touch_batch",
    "simulate_long_brackets",
]

EXIT_REASONS: tuple[str, ...] = (
    "signal",
    "stop_loss",
    "take_profit",
    "trailing",
    "liquidation",
    "end",
)
REASON_SIGNAL, REASON_STOP_LOSS, REASON_TAKE_PROFIT, REASON_TRAILING, REASON_LIQUIDATION = range(5)
REASON_END = 5

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

#: ``(entry_index, entry_price, realized_pnl) -> quantity``, or ``None`` to skip the entry.
EntrySizer = Callable[[int, float, float], float | None]

_BATCH_BUDGET = 1 << 21  # candle slots scanned per vectorised batch (bounds memory to ~100 MB)
_MIN_HORIZON = 1024  # candles scanned per candidate window in the batch pass, at least


@dataclass(frozen=True, slots=True)
class BracketParams:
    """Fixed-stake long position with an optional stop-loss and take-profit (fractions).

    ``fee`` is the taker fee, ``maker_fee`` the take-profit's (``None``: ``fee``).
    """

    stake: float = 1_000.0
    fee: float = DEFAULT_TAKER_FEE
    stop_loss: float | None = None
    take_profit: float | None = None
    maker_fee: float | None = None

    def __post_init__(self) -> None:
        if not self.stake > 0.0:
            raise ValueError(f"stake must be positive, got {self.stake!r}")
        if not self.fee >= 0.0:
            raise ValueError(f"fee must be >= 0, got {self.fee!r}")
        if self.maker_fee is not None and not self.maker_fee >= -0.001:
            raise ValueError(f"maker fee must be >= -0.001, got {self.maker_fee!r}")
        if self.stop_loss is not None and not 0.0 < self.stop_loss < 1.0:
            raise ValueError(f"stop_loss must be in (0, 1), got {self.stop_loss!r}")
        if self.take_profit is not None and not self.take_profit > 0.0:
            raise ValueError(f"take_profit must be positive, got {self.take_profit!r}")

    @property
    def effective_maker_fee(self) -> float:
        return self.fee if self.maker_fee is None else self.maker_fee

    def exit_fee_rate(self, reason: int) -> float:
        """The fee rate of an exit for ``reason`` (the maker fee for a take-profit)."""
        return self.effective_maker_fee if reason == REASON_TAKE_PROFIT else self.fee


@dataclass(frozen=True, slots=True)
class Trade:
    """One closed round trip; times are ms UTC (open time of the entry / exit candle)."""

    symbol: str
    entry_time: int
    exit_time: int
    entry_price: float
    exit_price: float
    quantity: float
    exit_reason: str
    pnl: float
    fees: float
    entry_index: int
    exit_index: int
    side: str = "long"
    slippage_bps: float = 0.0
    funding: float = 0.0

    def money_fields(self) -> dict[str, Decimal]:
        """Return prices, quantity, pnl and fees as ``Decimal`` (shortest round-trip repr),
        for storage or the API; the simulation itself runs on float64."""
        return {
            name: Decimal(repr(getattr(self, name)))
            for name in ("entry_price", "exit_price", "quantity", "pnl", "fees")
        }


@dataclass(frozen=True, slots=True, eq=False)
class TradeLog:
    """Trades as parallel arrays; ``reason`` indexes ``EXIT_REASONS``.

    ``entry_index`` is the entry candle; ``exit_index`` the candle in which the exit happened
    (the candle after the signal for signal exits, the last candle for ``end``).
    Optional columns (``None``: the long-only bracket kernel's defaults): ``side`` +1 long / -1
    short, the slippage of the entry and exit fills in bps of their reference prices, and the
    funding each trade paid (already in ``pnl``).
    """

    entry_index: IntArray
    exit_index: IntArray
    entry_price: FloatArray
    exit_price: FloatArray
    quantity: FloatArray
    reason: NDArray[np.int8]
    pnl: FloatArray
    fees: FloatArray
    entry_fee: FloatArray
    side: NDArray[np.int8] | None = None
    entry_slippage_bps: FloatArray | None = None
    exit_slippage_bps: FloatArray | None = None
    funding: FloatArray | None = None

    def __len__(self) -> int:
        return int(self.entry_index.size)

    @classmethod
    def empty(cls) -> TradeLog:
        i, f = np.empty(0, np.int64), np.empty(0, np.float64)
        return cls(i, i, f, f, f, np.empty(0, np.int8), f, f, f)

    @classmethod
    def concat(cls, logs: list[TradeLog]) -> TradeLog:
        """All trades of several logs in one (indices keep their own series' meaning)."""
        if not logs:
            return cls.empty()

        def cat(get: Callable[[TradeLog], NDArray[Any]]) -> NDArray[Any]:
            return np.concatenate([get(log) for log in logs])

        return cls(
            entry_index=cat(lambda t: t.entry_index),
            exit_index=cat(lambda t: t.exit_index),
            entry_price=cat(lambda t: t.entry_price),
            exit_price=cat(lambda t: t.exit_price),
            quantity=cat(lambda t: t.quantity),
            reason=cat(lambda t: t.reason),
            pnl=cat(lambda t: t.pnl),
            fees=cat(lambda t: t.fees),
            entry_fee=cat(lambda t: t.entry_fee),
            side=cat(lambda t: t.sides()),
            entry_slippage_bps=cat(
                lambda t: (
                    t.entry_slippage_bps if t.entry_slippage_bps is not None else np.zeros(len(t))
                )
            ),
            exit_slippage_bps=cat(
                lambda t: (
                    t.exit_slippage_bps if t.exit_slippage_bps is not None else np.zeros(len(t))
                )
            ),
            funding=cat(lambda t: t.funding_paid()),
        )

    def sides(self) -> NDArray[np.int8]:
        """+1 for a long, -1 for a short."""
        if self.side is None:
            return np.ones(self.entry_index.size, dtype=np.int8)
        return self.side

    def slippage_bps(self) -> FloatArray:
        """Each trade's entry and exit slippage added (bps)."""
        if self.entry_slippage_bps is None or self.exit_slippage_bps is None:
            return np.zeros(self.entry_index.size)
        return self.entry_slippage_bps + self.exit_slippage_bps

    def funding_paid(self) -> FloatArray:
        """The funding each trade paid (negative: received)."""
        if self.funding is None:
            return np.zeros(self.entry_index.size)
        return self.funding

    def to_trades(
        self, symbol: str, open_time: NDArray[np.int64], interval_ms: int = 0
    ) -> list[Trade]:
        """Convert to records; an ``end`` exit is stamped at the close time of the last candle."""
        exit_time = open_time[self.exit_index].copy()
        exit_time[self.reason == REASON_END] += interval_ms
        return [
            Trade(
                symbol=symbol,
                entry_time=int(et),
                exit_time=int(xt),
                entry_price=float(ep),
                exit_price=float(xp),
                quantity=float(q),
                exit_reason=EXIT_REASONS[r],
                pnl=float(p),
                fees=float(fe),
                entry_index=int(ei),
                exit_index=int(xi),
                side="long" if sd > 0 else "short",
                slippage_bps=float(sb),
                funding=float(fu),
            )
            for et, xt, ep, xp, q, r, p, fe, ei, xi, sd, sb, fu in zip(
                open_time[self.entry_index].tolist(),
                exit_time.tolist(),
                self.entry_price.tolist(),
                self.exit_price.tolist(),
                self.quantity.tolist(),
                self.reason.tolist(),
                self.pnl.tolist(),
                self.fees.tolist(),
                self.entry_index.tolist(),
                self.exit_index.tolist(),
                self.sides().tolist(),
                self.slippage_bps().tolist(),
                self.funding_paid().tolist(),
                strict=True,
            )
        ]


# --- searches --------------------------------------------------------------------------------


def first_touch(
    high: FloatArray, low: FloatArray, start: int, end: int, stop: float, target: float
) -> int:
    """Return the first index in ``[start, end]`` with ``low <= stop`` or ``high >= target``, or -1.

    Scans chunks that double in size (64, 128, ... 65536 candles), so a touch close to ``start``
    costs one small numpy call and a long quiet stretch costs O(log) calls.
    """
    size = 64
    a = start
    while a <= end:
        b = min(end + 1, a + size)
        touched = (low[a:b] <= stop) | (high[a:b] >= target)
        i = int(touched.argmax())
        if touched[i]:
            return a + i
        a = b
        size = min(size * 2, 1 << 16)
    return -1


def first_touch_batch(
    high: FloatArray,
    low: FloatArray,
    starts: IntArray,
    ends: IntArray,
    stops: FloatArray,
    targets: FloatArray,
) -> IntArray:
    """Vectorised ``first_touch`` for many windows ``[starts[k], ends[k]]`` at once (-1: none).

    The windows are laid end to end in one index array (in batches of bounded size), the touch
    mask is computed in one pass and each window's first touch is found with ``searchsorted``.
    """
    k_total = starts.size
    result = np.full(k_total, -1, dtype=np.int64)
    if k_total == 0:
        return result
    check_stop = bool(np.isfinite(stops).any())
    check_target = bool(np.isfinite(targets).any())
    if not (check_stop or check_target):
        return result
    lengths = ends - starts + 1
    cum = np.cumsum(lengths)
    b0 = 0
    while b0 < k_total:
        base = int(cum[b0 - 1]) if b0 else 0
        b1 = max(int(np.searchsorted(cum, base + _BATCH_BUDGET, side="right")), b0 + 1)
        seg_len = lengths[b0:b1]
        seg_off = cum[b0:b1] - seg_len - base
        total = int(seg_len.sum())
        idx = np.arange(total, dtype=np.int64)
        idx += np.repeat(starts[b0:b1] - seg_off, seg_len)
        if check_stop:
            touched = low[idx] <= np.repeat(stops[b0:b1], seg_len)
            if check_target:
                touched |= high[idx] >= np.repeat(targets[b0:b1], seg_len)
        else:
            touched = high[idx] >= np.repeat(targets[b0:b1], seg_len)
        hits = np.flatnonzero(touched)
        if hits.size:
            pos = np.searchsorted(hits, seg_off)
            first = hits[np.minimum(pos, hits.size - 1)]
            found = (pos < hits.size) & (first < seg_off + seg_len)
            result[b0:b1][found] = idx[first[found]]
        b0 = b1
    return result


# --- simulation ------------------------------------------------------------------------------


def _levels(entry: FloatArray, params: BracketParams) -> tuple[FloatArray, FloatArray]:
    if params.stop_loss is None:
        stop = np.full(entry.shape, -np.inf)
    else:
        stop = entry * (1.0 - params.stop_loss)
    if params.take_profit is None:
        target = np.full(entry.shape, np.inf)
    else:
        target = entry * (1.0 + params.take_profit)
    return stop, target


def _as_index_array(values: ArrayLike, n: int) -> IntArray:
    idx = np.asarray(values, dtype=np.int64).ravel()
    if idx.size and (np.any(np.diff(idx) <= 0) or idx[0] < 0 or idx[-1] >= n):
        raise ValueError("signal indices must be strictly increasing and within the series")
    return idx[idx <= n - 2]


def simulate_long_brackets(
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    *,
    entry_signals: ArrayLike,
    exit_signals: ArrayLike,
    params: BracketParams,
    method: Literal["batch", "events"] = "batch",
    sizer: EntrySizer | None = None,
) -> TradeLog:
    """Play the long-bracket rules over the candles and return the trades (see module doc).

    ``sizer`` (events method only) is called at each entry as
    ``sizer(entry_index, entry_price, realized_pnl)`` and returns the quantity to buy, or ``None``
    to let the signal pass (a risk gate's veto); without it the quantity is
    ``params.stake / entry_price``. Raise ``ValueError`` on inconsistent inputs.
    """
    if sizer is not None and method != "events":
        raise ValueError("a sizer needs method='events'")
    n = int(open_.size)
    if not (high.size == low.size == close.size == n):
        raise ValueError("open, high, low and close must have the same length")
    entries = _as_index_array(entry_signals, n)
    exits = _as_index_array(exit_signals, n)
    if n == 0 or entries.size == 0:
        return TradeLog.empty()
    sized: FloatArray | None = None
    if method == "batch":
        chosen, exit_idx, exit_price, reason = _resolve_batch(
            open_, high, low, close, entries, exits, params
        )
    elif method == "events":
        chosen, exit_idx, exit_price, reason, sized = _resolve_events(
            open_, high, low, close, entries, exits, params, sizer
        )
    else:
        raise ValueError(f"unknown method {method!r}")
    entry_idx = entries[chosen] + 1
    entry_price = open_[entry_idx]
    quantity = params.stake / entry_price if sized is None else sized
    entry_fee = params.fee * (quantity * entry_price)
    exit_rate = np.where(reason == REASON_TAKE_PROFIT, params.effective_maker_fee, params.fee)
    fees = entry_fee + exit_rate * (quantity * exit_price)
    pnl = quantity * (exit_price - entry_price) - fees
    return TradeLog(
        entry_index=entry_idx,
        exit_index=exit_idx,
        entry_price=entry_price,
        exit_price=exit_price,
        quantity=quantity,
        reason=reason,
        pnl=pnl,
        fees=fees,
        entry_fee=entry_fee,
    )


def _resolve_batch(
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    entries: IntArray,
    exits: IntArray,
    params: BracketParams,
) -> tuple[IntArray, IntArray, FloatArray, NDArray[np.int8]]:
    n = open_.size
    start = entries + 1
    entry_price = open_[start]
    stop, target = _levels(entry_price, params)
    # Next exit signal at or after the entry candle; without one the window runs to the end.
    pos = np.searchsorted(exits, start, side="left")
    has_exit = pos < exits.size
    padded = np.append(exits, n - 1)  # window end when no exit signal follows
    exit_signal = padded[pos]
    # Scan each window up to a horizon; windows of candidates that end up skipped may overlap
    # (no exit signal between entries), so an uncapped scan could cost O(n * candidates). A
    # chosen trade still unresolved at its horizon is finished with the chunked ``first_touch``;
    # chosen trades do not overlap, so that costs O(n) in total.
    horizon = max(_MIN_HORIZON, 4 * n // max(entries.size, 1))
    scan_end = np.minimum(exit_signal, start + (horizon - 1))
    touch = first_touch_batch(high, low, start, scan_end, stop, target)
    unresolved = ((touch < 0) & (scan_end < exit_signal)).tolist()
    next_pos = np.where(touch >= 0, touch, np.where(has_exit, exit_signal + 1, n))
    next_candidate = np.searchsorted(entries, next_pos, side="left").tolist()
    # Pointer walk over the candidates: a trade taken leads to the first candidate whose signal
    # comes when the position is flat again.
    chosen_list: list[int] = []
    k, k_total = 0, entries.size
    while k < k_total:
        chosen_list.append(k)
        if unresolved[k]:
            j = first_touch(
                high, low, int(scan_end[k]) + 1, int(exit_signal[k]), stop[k], target[k]
            )
            touch[k] = j
            resume = int(exit_signal[k]) + 1 if has_exit[k] else n
            k = int(np.searchsorted(entries, j if j >= 0 else resume, side="left"))
        else:
            k = next_candidate[k]
    chosen = np.asarray(chosen_list, dtype=np.int64)
    c_touch = touch[chosen]
    c_hit = c_touch >= 0
    safe = np.where(c_hit, c_touch, 0)
    c_stop = c_hit & (low[safe] <= stop[chosen])
    c_has_exit, c_signal = has_exit[chosen], exit_signal[chosen]
    exit_idx = np.where(c_hit, c_touch, np.where(c_has_exit, c_signal + 1, n - 1))
    stop_fill = np.minimum(open_[safe], stop[chosen])
    target_fill = np.maximum(open_[safe], target[chosen])
    exit_price = np.where(
        c_hit,
        np.where(c_stop, stop_fill, target_fill),
        np.where(c_has_exit, open_[np.minimum(exit_idx, n - 1)], close[n - 1]),
    )
    reason = np.where(
        c_hit,
        np.where(c_stop, REASON_STOP_LOSS, REASON_TAKE_PROFIT),
        np.where(c_has_exit, REASON_SIGNAL, REASON_END),
    ).astype(np.int8)
    return chosen, exit_idx.astype(np.int64), exit_price, reason


def _resolve_events(
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    entries: IntArray,
    exits: IntArray,
    params: BracketParams,
    sizer: EntrySizer | None,
) -> tuple[IntArray, IntArray, FloatArray, NDArray[np.int8], FloatArray | None]:
    n = int(open_.size)
    chosen: list[int] = []
    exit_idx: list[int] = []
    exit_price: list[float] = []
    reason: list[int] = []
    quantities: list[float] = []
    realized = 0.0
    k = 0
    while k < entries.size:
        start = int(entries[k]) + 1
        entry_price = open_[start : start + 1]
        if sizer is not None:
            qty = sizer(start, float(entry_price[0]), realized)
            if qty is None or not qty > 0.0:
                k = int(np.searchsorted(entries, start, side="left"))
                continue
            quantities.append(float(qty))
        stop_arr, target_arr = _levels(entry_price, params)
        stop, target = float(stop_arr[0]), float(target_arr[0])
        p = int(np.searchsorted(exits, start, side="left"))
        signal = int(exits[p]) if p < exits.size else -1
        window_end = signal if signal >= 0 else n - 1
        touch = first_touch(high, low, start, window_end, stop, target)
        chosen.append(k)
        if touch >= 0:
            exit_idx.append(touch)
            if low[touch] <= stop:
                exit_price.append(min(float(open_[touch]), stop))
                reason.append(REASON_STOP_LOSS)
            else:
                exit_price.append(max(float(open_[touch]), target))
                reason.append(REASON_TAKE_PROFIT)
            next_pos = touch
        elif signal >= 0:
            exit_idx.append(signal + 1)
            exit_price.append(float(open_[signal + 1]))
            reason.append(REASON_SIGNAL)
            next_pos = signal + 1
        else:
            exit_idx.append(n - 1)
            exit_price.append(float(close[n - 1]))
            reason.append(REASON_END)
            break
        if sizer is not None:
            q, ep, xp = quantities[-1], float(entry_price[0]), exit_price[-1]
            xf = params.exit_fee_rate(reason[-1])
            realized += q * (xp - ep) - (params.fee * (q * ep) + xf * (q * xp))
        k = int(np.searchsorted(entries, next_pos, side="left"))
    return (
        np.asarray(chosen, dtype=np.int64),
        np.asarray(exit_idx, dtype=np.int64),
        np.asarray(exit_price, dtype=np.float64),
        np.asarray(reason, dtype=np.int8),
        None if sizer is None else np.asarray(quantities, dtype=np.float64),
    )


# --- accounting ------------------------------------------------------------------------------


def equity_curve(trades: TradeLog, close: FloatArray, initial_capital: float) -> FloatArray:
    """Mark-to-market equity at each candle's close.

    ``equity[t] = initial_capital + sum(pnl of trades exited in candles <= t)
    + (side * qty * (close[t] - entry) - entry_fee)`` for a position held over the close of ``t``
    (candles ``entry_index <= t < exit_index``; ``side`` -1 for a short, else +1).
    """
    n = int(close.size)
    realized = np.bincount(trades.exit_index, weights=trades.pnl, minlength=n)[:n]
    equity = np.cumsum(realized, dtype=np.float64)  # bincount of no trades is int64
    equity += initial_capital
    held = trades.exit_index - trades.entry_index  # closes held: entry <= t < exit
    total = int(held.sum())
    if total:
        offsets = np.cumsum(held) - held
        t = np.arange(total, dtype=np.int64)
        t += np.repeat(trades.entry_index - offsets, held)
        signed = trades.quantity if trades.side is None else trades.quantity * trades.side
        quantity = np.repeat(signed, held)
        entry_price = np.repeat(trades.entry_price, held)
        entry_fee = np.repeat(trades.entry_fee, held)
        equity[t] += quantity * (close[t] - entry_price) - entry_fee
    return equity
