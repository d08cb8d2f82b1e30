"""General backtest kernel: a strategy's ``SignalFrame`` played long and short, one position.

The strategy's own vectorised ``signals`` (the code live trading runs) gives, per closed candle,
``enter_long`` / ``exit_long`` / ``enter_short`` / ``exit_short`` and optionally ``stop_price``,
``take_profit`` and ``trail_distance``. This kernel plays them over one symbol's candles in one
compiled loop (numba when installed, the same function in plain Python otherwise).

Signals and pending orders (signals only from CLOSED candles):
- A signal at the close of candle ``i`` (``i <= n - 2``) acts at ``open[i + 1]``; a signal at the
  last candle is ignored. Flat: an entry when exactly one of ``enter_long`` / ``enter_short`` is
  set (live ``decide`` does the same). In a position: the exit column of its side
  (``exit_long`` for a long, ``exit_short`` for a short); entry signals are then ignored, so a
  reversal takes an exit, then a new entry signal while flat (as live).
- Pending orders fill at the open of the next candle, before anything else happens in it: the
  exit of a position, or the entry. A market order sees the book of the LAST CLOSED candle (the
  signal candle's volume, as the simulated exchange), at the reference price ``open[i + 1]``.
- Quantity ``q = stake * leverage / open[i + 1]``: the stake is the margin, the notional is
  ``stake * leverage``. Isolated margin ``q * entry / leverage``.
- Levels, from the signal candle's row of the frame: ``stop_price`` and ``take_profit`` where
  given (not ``nan``), else ``entry * (1 -/+ stop_loss)`` and ``entry * (1 +/- take_profit)``
  (long/short; the fractions, when set, apply to the actual entry price), else none.
  ``trail_distance`` (an absolute price distance) trails the stop: during candle ``j`` the stop
  is ``max(stop, best - trail)`` for a long (``min(stop, best + trail)`` for a short), ``best``
  being the entry price and the highest high (lowest low) of the candles CLOSED since the entry:
  like the managed trailing stop, it moves once per closed candle, never inside one.
- Liquidation (isolated margin, one flat maintenance margin rate ``mmr``, as the simulated
  ledger): the position is liquidated when the price reaches
  ``entry * (1 - 1/leverage) / (1 - mmr)`` (long; never at leverage 1) or
  ``entry * (1 + 1/leverage) / (1 + mmr)`` (short). It closes at that price (at the open when a
  gap jumps it) and the trade loses exactly its margin plus the entry fee (and funding): the
  clearance fee is what is left of the margin, negative when a gap overshot the bankruptcy
  price. Funding does not move the liquidation price here. Liquidation before the stop: the
  adverse level of a candle is whichever of the stop and the liquidation price the price path
  reaches first, that is the higher for a long (the lower for a short), in every intrabar mode;
  a liquidation price beyond the stop is never reached before it. On a tie the liquidation comes
  first, as in the simulator.

Intrabar order inside a candle, after the pending orders at its open (``intrabar``):
- ``stop_first`` (default; the ``ema_cross`` definition): the adverse level (stop, trailing stop
  or liquidation) if ``low <= level`` (long; ``high >= level`` short), filled at
  ``min(open, level)`` (``max`` short); otherwise the take-profit if touched, filled at
  ``max(open, target)`` (``min`` short).
- ``path``: the simulator's candle path: open -> low -> high -> close when ``close >= open``,
  open -> high -> low -> close otherwise (``apps.exchange.domain.simulated.book``). A level the
  open is already through fills at the open; otherwise the first level on the path wins.
- ``finer``: a candle touching both the adverse level and the take-profit (and not gapping
  through either at its open) is replayed on the finer candles inside it (the ``fine`` arrays:
  candles of a lower interval with open times in ``[open_time, open_time + interval)``), each
  with the ``path`` rule; candles without finer data, or whose finer candles touch neither
  (data that do not aggregate exactly), use ``path`` on the candle itself. The trailing stop and
  the book volume stay those of the coarse candle.

Fills and fees:
- Market orders (entries, signal exits, stops, trailing stops, the ``end`` close) pay the taker
  fee ``fee``; a stop becomes a market order at its trigger (the open, through a gap) and walks
  the book of the candle it triggers in. Take-profits are resting limit orders (Binance TP
  limit orders are maker): they fill at their price (or the open, on a gap) without slippage and
  pay ``maker_fee``.
- Slippage (``book``): a market order of ``q`` walks the simulator's synthetic depth
  (``DepthModel``): ``levels`` levels spaced ``spacing_bps`` apart from the reference price, each
  holding ``Q = max(volume * depth_fraction / levels, min_level_qty)``; the fill is the average
  price of the levels taken, ``ref * (1 +/- idx * spacing_bps / 10_000)`` with ``idx`` the
  quantity-weighted mean level index (closed form, see ``book_fill_bps``). Differences from the
  simulator: no tick grid (the best level is the reference price itself, no one-tick spread), no
  random jitter of the level sizes, and a quantity beyond the whole side fills at the last level
  (the simulator lets that rest expire). Liquidations and take-profits have no slippage.
- A position still open after the last candle is closed at the last close (reason ``end``), a
  market order on the last candle's book.

With ``slippage`` off, leverage 1, ``stop_first``, the same fees, fractions instead of frame
levels and long-only signals, the trades equal ``simulate_long_brackets``'s (tested).

Pure: numpy (and optionally numba), no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from apps.backtest.research.domain.kernel import (
    REASON_END,
    REASON_LIQUIDATION,
    REASON_SIGNAL,
    REASON_STOP_LOSS,
    REASON_TAKE_PROFIT,
    REASON_TRAILING,
    TradeLog,
)
from apps.exchange.domain.fees import DEFAULT_MAKER_FEE, DEFAULT_TAKER_FEE
from apps.exchange.domain.simulated.book import DepthModel

__all__ = [
    "INTRABAR_MODES",
    "BookSlippage",
    "ExecutionParams",
    "FineCandles",
    "SignalRun",
    "book_fill_bps",
    "liquidation_price",
    "simulate_signals",
]

IntrabarMode = Literal["stop_first", "path", "finer"]
INTRABAR_MODES: tuple[str, ...] = ("stop_first", "path", "finer")
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
JIT_MIN_CANDLES = 20_000  # below this the plain loop finishes before numba is even imported


@dataclass(frozen=True, slots=True)
class BookSlippage:
    """The simulator's synthetic depth in float (defaults: those of ``DepthModel``)."""

    levels: int = 50
    spacing_bps: float = 0.5
    depth_fraction: float = 0.02
    min_level_qty: float = 0.0

    def __post_init__(self) -> None:
        if int(self.levels) != self.levels or self.levels < 1:
            raise ValueError(f"book levels must be a positive integer, got {self.levels!r}")
        if not self.spacing_bps >= 0.0:
            raise ValueError(f"book spacing_bps must be >= 0, got {self.spacing_bps!r}")
        if not self.depth_fraction > 0.0:
            raise ValueError(f"book depth_fraction must be > 0, got {self.depth_fraction!r}")
        if not self.min_level_qty >= 0.0:
            raise ValueError(f"book min_level_qty must be >= 0, got {self.min_level_qty!r}")

    @classmethod
    def from_depth_model(cls, model: DepthModel | None = None) -> BookSlippage:
        """The float model of a ``DepthModel`` (its ``min_level_qty`` or 0 when per-instrument)."""
        model = model or DepthModel()
        return cls(
            levels=int(model.levels),
            spacing_bps=float(model.spacing_bps),
            depth_fraction=float(model.depth_fraction),
            min_level_qty=float(model.min_level_qty or 0),
        )


def book_fill_bps(qty: ArrayLike, volume: ArrayLike, book: BookSlippage) -> FloatArray:
    """Slippage in bps of a market order of ``qty`` on the synthetic book of a candle of
    ``volume`` (vectorised): ``idx * spacing_bps`` with ``idx`` the mean level index taken.

    With ``Q`` per level and ``L = qty / Q``: ``L <= levels`` takes ``f = floor(L)`` full levels
    and ``L - f`` of the next, ``idx = (f (f - 1) / 2 + (L - f) f) / L``; beyond the whole side
    the rest fills at the last level. A book without depth (``Q == 0``) fills at the last level.
    """
    q = np.asarray(qty, dtype=np.float64)
    per_level = np.maximum(
        np.asarray(volume, dtype=np.float64) * book.depth_fraction / book.levels,
        book.min_level_qty,
    )
    n_levels = float(book.levels)
    with np.errstate(divide="ignore", invalid="ignore"):
        lv = np.where(per_level > 0.0, q / np.where(per_level > 0.0, per_level, 1.0), np.inf)
        full = np.floor(np.minimum(lv, n_levels))
        inside = (full * (full - 1.0) / 2.0 + (lv - full) * full) / lv
        beyond = (n_levels * (n_levels - 1.0) / 2.0 + (lv - n_levels) * (n_levels - 1.0)) / lv
        idx = np.where(lv <= n_levels, inside, beyond)
    idx = np.where(np.isinf(lv), n_levels - 1.0, np.where(lv > 0.0, idx, 0.0))
    return idx * book.spacing_bps


def liquidation_price(entry: float, side: int, leverage: float, mmr: float) -> float:
    """The isolated-margin liquidation price (``nan``: never, a long at leverage 1)."""
    if side > 0:
        price = entry * (1.0 - 1.0 / leverage) / (1.0 - mmr)
        return price if price > 0.0 else math.nan
    return entry * (1.0 + 1.0 / leverage) / (1.0 + mmr)


@dataclass(frozen=True, slots=True)
class ExecutionParams:
    """How a backtest trades: size, fees, leverage, slippage and the intrabar rule.

    ``stake`` is the margin of each position (notional ``stake * leverage``); ``fee`` the taker
    fee, ``maker_fee`` the take-profit's (``None``: the taker fee), both by default the
    platform's fee schedule (``apps.exchange.domain.fees``); ``stop_loss`` and
    ``take_profit`` fractions of the entry price serve where the frame gives no level.
    ``maintenance_margin``: 0.004 is Binance's lowest tier for BTCUSDT (notional up to 50k USDT).
    """

    stake: float = 1_000.0
    fee: float = DEFAULT_TAKER_FEE
    maker_fee: float | None = DEFAULT_MAKER_FEE
    leverage: float = 1.0
    maintenance_margin: float = 0.004
    slippage: BookSlippage | None = None
    intrabar: IntrabarMode = "stop_first"
    stop_loss: float | None = None
    take_profit: float | None = None

    def __post_init__(self) -> None:
        if not self.stake > 0.0:
            raise ValueError(f"stake must be positive, got {self.stake!r}")
        if not self.fee >= 0.0:
            raise ValueError(f"fee must be >= 0, got {self.fee!r}")
        if self.maker_fee is not None and not self.maker_fee >= -0.001:
            raise ValueError(f"maker fee must be >= -0.001, got {self.maker_fee!r}")
        if not 1.0 <= self.leverage <= 125.0:
            raise ValueError(f"leverage must be in [1, 125], got {self.leverage!r}")
        if not 0.0 <= self.maintenance_margin < 0.5:
            raise ValueError(
                f"maintenance margin rate must be in [0, 0.5), got {self.maintenance_margin!r}"
            )
        if self.intrabar not in INTRABAR_MODES:
            raise ValueError(
                f"intrabar must be one of {', '.join(INTRABAR_MODES)}, got {self.intrabar!r}"
            )
        if self.stop_loss is not None and not 0.0 < self.stop_loss < 1.0:
            raise ValueError(f"stop_loss must be in (0, 1), got {self.stop_loss!r}")
        if self.take_profit is not None and not self.take_profit > 0.0:
            raise ValueError(f"take_profit must be positive, got {self.take_profit!r}")

    @property
    def effective_maker_fee(self) -> float:
        return self.fee if self.maker_fee is None else self.maker_fee


@dataclass(frozen=True, slots=True, eq=False)
class FineCandles:
    """Finer candles of the same symbol (any lower interval), for ``intrabar="finer"``."""

    open_time: NDArray[np.int64]
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray


@dataclass(frozen=True, slots=True, eq=False)
class SignalRun:
    """The trades, and how many candles touched both sides (``ambiguous``) and how many of
    those the finer candles resolved (``resolved_by_fine``)."""

    trades: TradeLog
    ambiguous: int = 0
    resolved_by_fine: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


# --- the loop ---------------------------------------------------------------------------------
# One function, valid Python and valid numba (no helpers: numba would need them compiled too).


def _kernel(
    o: FloatArray,
    h: FloatArray,
    lo: FloatArray,
    c: FloatArray,
    v: FloatArray,
    enter_long: BoolArray,
    exit_long: BoolArray,
    enter_short: BoolArray,
    exit_short: BoolArray,
    stop_col: FloatArray,
    take_col: FloatArray,
    trail_col: FloatArray,
    sl_frac: float,
    tp_frac: float,
    notional: float,
    leverage: float,
    mmr: float,
    fee_taker: float,
    fee_maker: float,
    slip_on: bool,
    spacing_bps: float,
    depth_fraction: float,
    n_levels: float,
    min_level_qty: float,
    mode: int,
    fine_start: NDArray[np.int64],
    fine_end: NDArray[np.int64],
    fo: FloatArray,
    fh: FloatArray,
    fl: FloatArray,
    fc: FloatArray,
) -> tuple[Any, ...]:
    n = o.size
    e_idx = np.empty(n, np.int64)
    x_idx = np.empty(n, np.int64)
    sides = np.empty(n, np.int8)
    qtys = np.empty(n, np.float64)
    e_px = np.empty(n, np.float64)
    x_px = np.empty(n, np.float64)
    reasons = np.empty(n, np.int8)
    e_fee = np.empty(n, np.float64)
    x_fee = np.empty(n, np.float64)
    e_bps = np.empty(n, np.float64)
    x_bps = np.empty(n, np.float64)
    inf = np.inf
    k = 0
    ambiguous = 0
    by_fine = 0
    pos = 0
    pending = 0  # 0: none, 1 / -1: enter long / short, 2: exit
    entry_i = 0
    q = 0.0
    entry_px = 0.0
    entry_fee = 0.0
    entry_bps = 0.0
    stop = 0.0
    target = 0.0
    trail = 0.0
    best = 0.0
    liq = 0.0
    margin = 0.0
    for t in range(n):
        exit_now = False
        exit_ref = 0.0
        exit_vol = 0.0
        exit_reason = 0
        exit_market = True
        if pending == 2:
            exit_now = True
            exit_ref = o[t]
            exit_vol = v[t - 1]
            exit_reason = 0  # signal
        elif pending != 0:
            side = pending
            ref = o[t]
            q = notional / ref
            bps = 0.0
            if slip_on:
                per_level = v[t - 1] * depth_fraction / n_levels
                if per_level < min_level_qty:
                    per_level = min_level_qty
                if per_level <= 0.0:
                    idx = n_levels - 1.0
                else:
                    lv = q / per_level
                    if lv <= n_levels:
                        full = math.floor(lv)
                        idx = (full * (full - 1.0) / 2.0 + (lv - full) * full) / lv
                    else:
                        idx = (
                            n_levels * (n_levels - 1.0) / 2.0 + (lv - n_levels) * (n_levels - 1.0)
                        ) / lv
                bps = idx * spacing_bps
            entry_px = ref * (1.0 + side * bps / 10_000.0)
            entry_bps = bps
            entry_fee = fee_taker * (q * entry_px)
            s = t - 1
            x = stop_col[s]
            if x == x:
                stop = x
            elif sl_frac == sl_frac:
                stop = entry_px * (1.0 - side * sl_frac)
            else:
                stop = -inf if side > 0 else inf
            x = take_col[s]
            if x == x:
                target = x
            elif tp_frac == tp_frac:
                target = entry_px * (1.0 + side * tp_frac)
            else:
                target = inf if side > 0 else -inf
            x = trail_col[s]
            trail = x if (x == x and x > 0.0) else -1.0
            best = entry_px
            margin = q * entry_px / leverage
            if side > 0:
                liq = entry_px * (1.0 - 1.0 / leverage) / (1.0 - mmr)
                if liq <= 0.0:
                    liq = -inf
            else:
                liq = entry_px * (1.0 + 1.0 / leverage) / (1.0 + mmr)
            pos = side
            entry_i = t
        pending = 0
        if pos != 0 and not exit_now:
            # the adverse level of this candle: stop, trailing stop or liquidation
            trailing = False
            if pos > 0:
                stop_now = stop
                if trail > 0.0 and best - trail > stop_now:
                    stop_now = best - trail
                    trailing = True
                is_liq = liq >= stop_now
                adverse = liq if is_liq else stop_now
            else:
                stop_now = stop
                if trail > 0.0 and best + trail < stop_now:
                    stop_now = best + trail
                    trailing = True
                is_liq = liq <= stop_now
                adverse = liq if is_liq else stop_now
            ot, ht, lt, ct = o[t], h[t], lo[t], c[t]
            if pos > 0:
                both = lt <= adverse and ht >= target and ot > adverse and ot < target
            else:
                both = ht >= adverse and lt <= target and ot < adverse and ot > target
            if both:
                ambiguous += 1
            hit = 0
            price = 0.0
            if mode == 0:
                if pos > 0:
                    if lt <= adverse:
                        hit = 1
                        price = min(ot, adverse)
                    elif ht >= target:
                        hit = 2
                        price = max(ot, target)
                else:
                    if ht >= adverse:
                        hit = 1
                        price = max(ot, adverse)
                    elif lt <= target:
                        hit = 2
                        price = min(ot, target)
            else:
                use_fine = mode == 2 and both and fine_end[t] > fine_start[t]
                n_sub = fine_end[t] - fine_start[t] + 1 if use_fine else 1
                for step in range(n_sub):
                    if use_fine and step < n_sub - 1:
                        j = fine_start[t] + step
                        so, sh, sl, sc = fo[j], fh[j], fl[j], fc[j]
                    else:
                        so, sh, sl, sc = ot, ht, lt, ct
                    if pos > 0:
                        if so <= adverse:
                            hit, price = 1, so
                        elif so >= target:
                            hit, price = 2, so
                        else:
                            ta = sl <= adverse
                            tf = sh >= target
                            if ta and tf:
                                if sc >= so:  # up candle: the low comes first
                                    hit, price = 1, adverse
                                else:
                                    hit, price = 2, target
                            elif ta:
                                hit, price = 1, adverse
                            elif tf:
                                hit, price = 2, target
                    else:
                        if so >= adverse:
                            hit, price = 1, so
                        elif so <= target:
                            hit, price = 2, so
                        else:
                            ta = sh >= adverse
                            tf = sl <= target
                            if ta and tf:
                                if sc >= so:  # up candle: the low (the target) comes first
                                    hit, price = 2, target
                                else:
                                    hit, price = 1, adverse
                            elif ta:
                                hit, price = 1, adverse
                            elif tf:
                                hit, price = 2, target
                    if hit != 0:
                        if use_fine and step < n_sub - 1:
                            by_fine += 1
                        break
            if hit == 1:
                exit_now = True
                if is_liq:
                    exit_market = False
                    exit_reason = 4
                    exit_ref = price
                else:
                    exit_ref = price
                    exit_vol = v[t]
                    exit_reason = 3 if trailing else 1
            elif hit == 2:
                exit_now = True
                exit_market = False
                exit_reason = 2
                exit_ref = price
            elif t == n - 1:
                exit_now = True
                exit_ref = ct
                exit_vol = v[t]
                exit_reason = 5
            elif pos > 0:
                if ht > best:
                    best = ht
            elif lt < best:
                best = lt
        if exit_now:
            bps = 0.0
            if exit_market and slip_on:
                per_level = exit_vol * depth_fraction / n_levels
                if per_level < min_level_qty:
                    per_level = min_level_qty
                if per_level <= 0.0:
                    idx = n_levels - 1.0
                else:
                    lv = q / per_level
                    if lv <= n_levels:
                        full = math.floor(lv)
                        idx = (full * (full - 1.0) / 2.0 + (lv - full) * full) / lv
                    else:
                        idx = (
                            n_levels * (n_levels - 1.0) / 2.0 + (lv - n_levels) * (n_levels - 1.0)
                        ) / lv
                bps = idx * spacing_bps
            exit_px = exit_ref * (1.0 - pos * bps / 10_000.0)
            if exit_reason == 4:
                fee_out = margin + pos * q * (exit_px - entry_px)  # clearance: the margin left
            elif exit_reason == 2:
                fee_out = fee_maker * (q * exit_px)
            else:
                fee_out = fee_taker * (q * exit_px)
            e_idx[k] = entry_i
            x_idx[k] = t
            sides[k] = pos
            qtys[k] = q
            e_px[k] = entry_px
            x_px[k] = exit_px
            reasons[k] = exit_reason
            e_fee[k] = entry_fee
            x_fee[k] = fee_out
            e_bps[k] = entry_bps
            x_bps[k] = bps
            k += 1
            pos = 0
        if t <= n - 2:
            if pos > 0:
                if exit_long[t]:
                    pending = 2
            elif pos < 0:
                if exit_short[t]:
                    pending = 2
            elif enter_long[t] != enter_short[t]:
                pending = 1 if enter_long[t] else -1
    return (
        k,
        ambiguous,
        by_fine,
        e_idx,
        x_idx,
        sides,
        qtys,
        e_px,
        x_px,
        reasons,
        e_fee,
        x_fee,
        e_bps,
        x_bps,
    )


_compiled: Any = None


def _compiled_kernel() -> Any:
    """The numba-compiled loop (cached on disk), or ``None`` without numba."""
    global _compiled
    if _compiled is None:
        try:
            import numba  # optional accelerator, imported on first use
        except ImportError:  # pragma: no cover - numba is pinned
            _compiled = False
            return None
        try:
            _compiled = numba.njit(cache=True, nogil=True)(_kernel)
        except RuntimeError:  # pragma: no cover - no writable cache location
            _compiled = numba.njit(cache=False, nogil=True)(_kernel)
    return _compiled or None


_REASON_CHECK = (
    REASON_SIGNAL,
    REASON_STOP_LOSS,
    REASON_TAKE_PROFIT,
    REASON_TRAILING,
    REASON_LIQUIDATION,
    REASON_END,
)
if _REASON_CHECK != (0, 1, 2, 3, 4, 5):  # pragma: no cover - the loop writes these numbers
    raise ImportError("exit reason codes changed: update signal_kernel._kernel")


def _plain(values: ArrayLike, dtype: type) -> NDArray[Any]:
    """A C-contiguous, writable array: one compiled signature of the loop for every caller
    (numba types read-only arrays, such as the loaders', apart)."""
    out: NDArray[Any] = np.ascontiguousarray(values, dtype=dtype)
    return out if out.flags.writeable else out.copy()


def _float_column(values: ArrayLike | None, n: int, name: str) -> FloatArray:
    if values is None:
        return np.full(n, np.nan)
    out = _plain(values, np.float64)
    if out.shape != (n,):
        raise ValueError(f"{name} has shape {out.shape}, expected ({n},)")
    return out


def _bool_column(values: ArrayLike, n: int, name: str) -> BoolArray:
    out = _plain(values, np.bool_)
    if out.shape != (n,):
        raise ValueError(f"{name} has shape {out.shape}, expected ({n},)")
    return out


def fine_ranges(
    open_time: NDArray[np.int64], interval_ms: int, fine: FineCandles
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """For each candle, the range ``[start, end)`` of finer candles opening inside it."""
    start = np.searchsorted(fine.open_time, open_time, side="left").astype(np.int64)
    end = np.searchsorted(fine.open_time, open_time + interval_ms, side="left").astype(np.int64)
    return start, end


def simulate_signals(
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    volume: FloatArray,
    *,
    enter_long: ArrayLike,
    exit_long: ArrayLike,
    enter_short: ArrayLike,
    exit_short: ArrayLike,
    stop_price: ArrayLike | None = None,
    take_profit: ArrayLike | None = None,
    trail_distance: ArrayLike | None = None,
    params: ExecutionParams,
    open_time: NDArray[np.int64] | None = None,
    interval_ms: int | None = None,
    fine: FineCandles | None = None,
    jit: bool | None = None,
) -> SignalRun:
    """Play the signal columns over the candles (see the module docstring); return the trades.

    ``fine`` (with ``open_time`` and ``interval_ms``) serves ``intrabar="finer"``. ``jit``: run
    the loop compiled by numba (about 40 M candles/s once loaded; importing numba and loading
    the cached loop costs about 0.3 s per process) or as plain Python (the same function, about
    1 M candles/s); ``None`` picks numba from ``JIT_MIN_CANDLES`` candles on.
    """
    n = int(open_.size)
    arrays = [_plain(a, np.float64) for a in (open_, high, low, close, volume)]
    if any(a.size != n for a in arrays):
        raise ValueError("open, high, low, close and volume must have the same length")
    columns = [
        _bool_column(values, n, name)
        for values, name in (
            (enter_long, "enter_long"),
            (exit_long, "exit_long"),
            (enter_short, "enter_short"),
            (exit_short, "exit_short"),
        )
    ]
    levels = [
        _float_column(values, n, name)
        for values, name in (
            (stop_price, "stop_price"),
            (take_profit, "take_profit"),
            (trail_distance, "trail_distance"),
        )
    ]
    if n == 0:
        return SignalRun(TradeLog.empty())
    empty_f = np.empty(0, np.float64)
    fine_start = fine_end = np.zeros(n, np.int64)
    fine_arrays = [empty_f, empty_f, empty_f, empty_f]
    mode = INTRABAR_MODES.index(params.intrabar)
    if mode == 2 and fine is not None and fine.open_time.size:
        if open_time is None or interval_ms is None:
            raise ValueError("finer candles need the candles' open_time and interval_ms")
        fine_start, fine_end = fine_ranges(np.asarray(open_time, np.int64), interval_ms, fine)
        fine_arrays = [_plain(a, np.float64) for a in (fine.open, fine.high, fine.low, fine.close)]
    book = params.slippage or BookSlippage()
    if jit is None:
        jit = n >= JIT_MIN_CANDLES
    run: Any = (_compiled_kernel() if jit else None) or _kernel
    nan = math.nan
    out = run(
        *arrays,
        *columns,
        *levels,
        nan if params.stop_loss is None else float(params.stop_loss),
        nan if params.take_profit is None else float(params.take_profit),
        float(params.stake * params.leverage),
        float(params.leverage),
        float(params.maintenance_margin),
        float(params.fee),
        float(params.effective_maker_fee),
        params.slippage is not None,
        float(book.spacing_bps),
        float(book.depth_fraction),
        float(book.levels),
        float(book.min_level_qty),
        mode,
        fine_start,
        fine_end,
        *fine_arrays,
    )
    k, ambiguous, by_fine = int(out[0]), int(out[1]), int(out[2])
    e_idx, x_idx, sides, qtys, e_px, x_px, reasons, e_fee, x_fee, e_bps, x_bps = (
        a[:k].copy() for a in out[3:]
    )
    gross = sides * qtys * (x_px - e_px)
    fees = e_fee + x_fee
    trades = TradeLog(
        entry_index=e_idx,
        exit_index=x_idx,
        entry_price=e_px,
        exit_price=x_px,
        quantity=qtys,
        reason=reasons,
        pnl=gross - fees,
        fees=fees,
        entry_fee=e_fee,
        side=sides,
        entry_slippage_bps=e_bps,
        exit_slippage_bps=x_bps,
    )
    return SignalRun(trades, ambiguous=ambiguous, resolved_by_fine=by_fine)
