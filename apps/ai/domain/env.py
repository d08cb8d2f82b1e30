"""The trading environment the reinforcement-learning agents train on, and the same rules played
over a whole action series (``simulate_actions``, for backtests of agents and ensembles).

One symbol, one position at a time, the signal kernel's cost model (``signal_kernel``, whose
``BookSlippage`` and ``book_fill_bps`` it calls, and ``funding.funding_per_candle``):

- Step ``t`` sees the features of the CLOSED candle ``t`` (the scaled feature row only, never the
  position: models see features only, ``types``) and picks a target position. A change is filled
  at ``open[t + 1]`` by market orders paying the taker ``fee`` on their notional at the fill price
  and walking the book of the LAST CLOSED candle ``t`` (``volume[t]``): the slippage of an order
  of ``q`` is ``book_fill_bps(q, volume[t], slippage)``, the fill price
  ``open[t + 1] * (1 +/- bps / 10_000)`` (worse for the taker). No slippage when ``slippage`` is
  ``None``.
- A new position has ``q = stake * leverage / open[t + 1]`` (the stake is the margin); a kept
  position keeps its quantity; a flip is two orders, the close of the old quantity then the
  opening of the new one, each charged (each on the candle's book on its own).
- Equity is marked to market at the closes: the old position from ``close[t]`` to its exit fill
  at ``open[t + 1]``, the new one from its entry fill to ``close[t + 1]`` (a kept one from
  ``close[t]`` to ``close[t + 1]``); the position held over candle ``t + 1`` pays
  ``q * sign * v[t + 1]`` funding (``v`` from ``funding_per_candle``: a short receives what a
  long pays). A position still open is not charged a closing order (as the backtest's equity
  curve). So a long entered at step ``i`` and closed at step ``j`` changes the equity by the
  signal kernel's trade PnL (enter at the close of ``i``, exit at the close of ``j``) net of its
  funding, and the equity at every close equals the kernel's equity curve with funding.
- No stops, take-profits or liquidation here (the agents' actions are the only exits): with a
  leverage above 1 the kernel may liquidate a position the environment keeps.
- Reward of a step: ``reward_scale * (dE / initial_equity - drawdown_penalty * max(0, dd' - dd))``
  with ``dE`` the change of equity over the step and ``dd = 1 - equity / peak equity`` of the
  episode (the penalty charges only deepening drawdowns).
- Actions: ``actions=3``: the target position, ``AiAction`` (FLAT 0, LONG 1, SHORT 2). ``actions=5``
  (FreqAI's Base5ActionRLEnv): ``Action5`` NEUTRAL keeps the position, LONG_ENTER goes long from
  flat, LONG_EXIT goes flat from a long, SHORT_ENTER goes short from flat, SHORT_EXIT goes flat
  from a short; any other combination (LONG_ENTER while short, ...) keeps the position. So the
  5-action variant never flips in one step (as the kernel: an exit, then an entry) and depends
  on the position the agent cannot see: ``predict_series`` must then replay the positions.

Episodes: ``reset`` draws a window of ``episode_length`` steps whose candles all have valid
features and a next candle (``open[t + 1]``), with the environment's seeded ``np_random``;
``options={"start": t}`` fixes its first candle. ``episode_length`` ``None`` or 0: from the first
candle after which every feature row is valid (or ``start``) until the data ends. An episode is
``truncated`` at its end and ``terminated`` when the equity reaches 0.

Pure and fast: the step is plain float arithmetic on lists precomputed at construction, the
observation a copy of a row of the environment's own float32 matrix (gymnasium wants new data
on every call).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import ArrayLike, NDArray

from apps.ai.domain.features import CLIP, FeatureSet
from apps.ai.domain.types import SIGNS
from apps.backtest.research.domain.funding import funding_per_candle
from apps.backtest.research.domain.signal_kernel import BookSlippage, ExecutionParams, book_fill_bps
from apps.exchange.domain.fees import DEFAULT_TAKER_FEE
from apps.strategies.domain.base import OHLCV, CandleArrays

__all__ = [
    "Action5",
    "ActionRun",
    "EnvConfig",
    "TradingEnv",
    "simulate_actions",
]

FloatArray = NDArray[np.float64]
Funding = tuple[NDArray[np.int64], NDArray[np.float64]]


class Action5(IntEnum):
    """FreqAI's five actions (``EnvConfig.actions == 5``)."""

    NEUTRAL = 0
    LONG_ENTER = 1
    LONG_EXIT = 2
    SHORT_ENTER = 3
    SHORT_EXIT = 4


# The target position of each action given the current one: TARGETS[action][position + 1].
_TARGETS_3 = tuple((sign,) * 3 for sign in SIGNS.tolist())  # AiAction: its sign, always
_TARGETS_5 = (
    (-1, 0, 1),  # NEUTRAL: keep
    (-1, 1, 1),  # LONG_ENTER: long from flat
    (-1, 0, 0),  # LONG_EXIT: flat from a long
    (-1, -1, 1),  # SHORT_ENTER: short from flat
    (0, 0, 1),  # SHORT_EXIT: flat from a short
)


@dataclass(frozen=True, slots=True)
class EnvConfig:
    """Costs, sizing, episodes and reward of ``TradingEnv`` (see the module docstring).

    ``fee``: the taker fee per side; ``slippage``: the synthetic book (``None``: no slippage);
    ``stake``: the margin of a position (quote), its notional ``stake * leverage``;
    ``episode_length``: steps per episode (``None`` or 0: until the data ends);
    ``reward_scale``: 100 gives the reward in percent of the initial equity.
    Raise ``ValueError`` on a value out of range.
    """

    fee: float = DEFAULT_TAKER_FEE
    slippage: BookSlippage | None = field(default_factory=BookSlippage.from_depth_model)
    stake: float = 1_000.0
    leverage: float = 1.0
    initial_equity: float = 10_000.0
    episode_length: int | None = 720
    drawdown_penalty: float = 0.0
    reward_scale: float = 100.0
    actions: int = 3

    def __post_init__(self) -> None:
        if not (math.isfinite(self.fee) and self.fee >= 0.0):
            raise ValueError(f"fee must be >= 0, got {self.fee!r}")
        if not (math.isfinite(self.stake) and self.stake > 0.0):
            raise ValueError(f"stake must be positive, got {self.stake!r}")
        if not 1.0 <= self.leverage <= 125.0:
            raise ValueError(f"leverage must be in [1, 125], got {self.leverage!r}")
        if not (math.isfinite(self.initial_equity) and self.initial_equity > 0.0):
            raise ValueError(f"initial_equity must be positive, got {self.initial_equity!r}")
        length = self.episode_length
        if length is not None and (isinstance(length, bool) or int(length) != length or length < 0):
            raise ValueError(
                f"episode_length must be a positive integer, 0 or None, got {length!r}"
            )
        if not (math.isfinite(self.drawdown_penalty) and self.drawdown_penalty >= 0.0):
            raise ValueError(f"drawdown_penalty must be >= 0, got {self.drawdown_penalty!r}")
        if not (math.isfinite(self.reward_scale) and self.reward_scale > 0.0):
            raise ValueError(f"reward_scale must be positive, got {self.reward_scale!r}")
        if self.actions not in (3, 5):
            raise ValueError(f"actions must be 3 or 5, got {self.actions!r}")

    @property
    def steps(self) -> int | None:
        """Steps per episode, ``None`` for episodes that run until the data ends."""
        return int(self.episode_length) if self.episode_length else None

    def execution_params(self) -> ExecutionParams:
        """The signal kernel's parameters with the same stake, fee, leverage and book."""
        return ExecutionParams(
            stake=self.stake, fee=self.fee, leverage=self.leverage, slippage=self.slippage
        )


def _book_bps(qty: float, per_level: float, n_levels: float, spacing_bps: float) -> float:
    """``book_fill_bps`` for one order, on a book of ``per_level`` per level (the same closed
    form as the kernel's loop, in Python floats)."""
    if per_level <= 0.0:
        return (n_levels - 1.0) * spacing_bps
    lv = qty / per_level
    if lv <= n_levels:
        full = math.floor(lv)
        idx = (full * (full - 1.0) / 2.0 + (lv - full) * full) / lv
    else:
        idx = (n_levels * (n_levels - 1.0) / 2.0 + (lv - n_levels) * (n_levels - 1.0)) / lv
    return idx * spacing_bps


class _Ledger:
    """The account of one episode and its one transition rule (``apply``), shared by the
    environment and ``simulate_actions``; the series are Python lists for fast scalar access."""

    __slots__ = (
        "close",
        "drawdown",
        "drawdown_scale",
        "equity",
        "fee",
        "fees",
        "funding",
        "funding_value",
        "initial_equity",
        "n_actions",
        "n_levels",
        "new_bps",
        "new_qty",
        "open",
        "peak",
        "per_level",
        "position",
        "quantity",
        "return_scale",
        "slip_on",
        "slippage",
        "spacing_bps",
        "step_fees",
        "step_funding",
        "step_slippage",
        "targets",
        "trades",
    )

    def __init__(self, candles: OHLCV, config: EnvConfig, funding: Funding | None) -> None:
        n = len(candles)
        if n < 2:
            raise ValueError(f"the environment needs at least 2 candles, got {n}")
        o = np.asarray(candles.open, dtype=np.float64)
        c = np.asarray(candles.close, dtype=np.float64)
        v = np.asarray(candles.volume, dtype=np.float64)
        if not (np.all(np.isfinite(o)) and np.all(o > 0.0) and np.all(np.isfinite(c))):
            raise ValueError("open and close prices must be finite and open prices positive")
        if funding is None:
            value = np.zeros(n)
        else:
            times = np.asarray(funding[0], dtype=np.int64)
            rates = np.asarray(funding[1], dtype=np.float64)
            if times.shape != rates.shape or times.ndim != 1:
                raise ValueError("funding times and rates must be 1-d arrays of the same length")
            value = funding_per_candle(np.asarray(candles.open_time, np.int64), c, times, rates)
        book = config.slippage
        notional = config.stake * config.leverage
        new_qty = notional / o[1:]
        self.open = o.tolist()
        self.close = c.tolist()
        self.funding_value = value.tolist()
        self.new_qty = new_qty.tolist()
        self.fee = float(config.fee)
        self.slip_on = book is not None
        if book is None:
            self.per_level = [0.0] * n
            self.new_bps = [0.0] * (n - 1)
            self.n_levels = self.spacing_bps = 0.0
        else:
            self.per_level = np.maximum(
                v * book.depth_fraction / book.levels, book.min_level_qty
            ).tolist()
            self.new_bps = book_fill_bps(new_qty, v[:-1], book).tolist()
            self.n_levels = float(book.levels)
            self.spacing_bps = float(book.spacing_bps)
        self.initial_equity = float(config.initial_equity)
        self.return_scale = config.reward_scale / config.initial_equity
        self.drawdown_scale = config.reward_scale * config.drawdown_penalty
        self.targets = _TARGETS_5 if config.actions == 5 else _TARGETS_3
        self.n_actions = config.actions
        self.reset()

    def reset(self) -> None:
        self.position = 0
        self.quantity = 0.0
        self.equity = self.peak = self.initial_equity
        self.drawdown = 0.0
        self.fees = self.slippage = self.funding = 0.0
        self.step_fees = self.step_slippage = self.step_funding = 0.0
        self.trades = 0

    def apply(self, t: int, action: int) -> tuple[float, float]:
        """Act at the close of candle ``t`` (``t <= n - 2``); return the equity change over
        candle ``t + 1`` and the reward. Raise ``ValueError`` on an unknown action."""
        if not 0 <= action < self.n_actions:
            raise ValueError(f"action must be in [0, {self.n_actions}), got {action!r}")
        p = self.position
        q = self.quantity
        s = self.targets[action][p + 1]
        c0 = self.close[t]
        c1 = self.close[t + 1]
        if s == p:
            change = p * q * (c1 - c0) if p else 0.0
            self.step_fees = self.step_slippage = 0.0
        else:
            o1 = self.open[t + 1]
            change = 0.0
            fees = slip = 0.0
            if p:  # close the old position at open[t + 1] on candle t's book
                bps = (
                    _book_bps(q, self.per_level[t], self.n_levels, self.spacing_bps)
                    if self.slip_on
                    else 0.0
                )
                px = o1 * (1.0 - p * bps / 10_000.0)
                fees = self.fee * (q * px)
                slip = q * o1 * bps / 10_000.0
                change = p * q * (px - c0) - fees
            if s:  # open the new one
                q = self.new_qty[t]
                bps = self.new_bps[t]
                px = o1 * (1.0 + s * bps / 10_000.0)
                fee = self.fee * (q * px)
                fees += fee
                slip += q * o1 * bps / 10_000.0
                change += s * q * (c1 - px) - fee
                self.trades += 1
            else:
                q = 0.0
            self.position = s
            self.quantity = q
            self.fees += fees
            self.slippage += slip
            self.step_fees = fees
            self.step_slippage = slip
        paid = s * q * self.funding_value[t + 1] if s else 0.0
        self.step_funding = paid
        if paid:
            change -= paid
            self.funding += paid
        equity = self.equity + change
        self.equity = equity
        old = self.drawdown
        if equity >= self.peak:
            self.peak = equity
            self.drawdown = 0.0
            return change, change * self.return_scale
        dd = 1.0 - equity / self.peak
        self.drawdown = dd
        reward = change * self.return_scale
        if dd > old:
            reward -= self.drawdown_scale * (dd - old)
        return change, reward


def _feature_matrix(
    features: FeatureSet | ArrayLike, valid: ArrayLike | None, n: int
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    mask: ArrayLike | None
    if isinstance(features, FeatureSet):
        matrix = features.scaled
        mask = features.valid if valid is None else valid
    else:
        matrix = np.asarray(features)
        mask = valid
    matrix = np.array(matrix, dtype=np.float32, order="C")  # the environment's own copy
    if matrix.ndim != 2 or matrix.shape[0] != n:
        raise ValueError(f"features have shape {matrix.shape}, expected ({n}, n_features)")
    if not np.all(np.isfinite(matrix)):
        raise ValueError("scaled features must be finite (use Normalizer.apply)")
    mask_arr = np.ones(n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if mask_arr.shape != (n,):
        raise ValueError(f"valid mask has shape {mask_arr.shape}, expected ({n},)")
    return matrix, mask_arr


class TradingEnv(gym.Env[NDArray[np.float32], int | np.integer[Any]]):
    """One symbol's candles as a gymnasium environment (see the module docstring).

    ``features``: a ``FeatureSet`` of the same candles, or a scaled matrix ``(n, n_features)``
    with ``valid`` (default: every row valid). ``funding``: ``(funding_time ms, funding_rate)``.
    ``info``: ``equity``, ``position`` (-1, 0, 1), ``fees``, ``slippage`` and ``funding`` paid in
    the episode so far (quote), ``trades`` (positions opened; a flip opens one) and ``index``
    (the candle of the observation). Raise ``ValueError`` on inconsistent inputs.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        candles: CandleArrays,
        features: FeatureSet | ArrayLike,
        *,
        valid: ArrayLike | None = None,
        funding: Funding | None = None,
        config: EnvConfig | None = None,
    ) -> None:
        super().__init__()
        self.config = config or EnvConfig()
        ohlcv = OHLCV.of(candles)
        n = len(ohlcv)
        matrix, mask = _feature_matrix(features, valid, n)
        self._ledger = _Ledger(ohlcv, self.config, funding)
        self._rows = list(matrix)  # one view per candle, copied out (gymnasium: new data)
        steppable = mask.copy()
        steppable[-1] = False  # the last candle has no next open
        # _can_start[t]: the episode [t, t + L) (or [t, n - 1)) has only steppable candles
        bad_after = np.cumsum(~steppable[::-1])[::-1]  # non-steppable candles in [t, n - 1]
        length = self.config.steps
        if length is None:
            self._can_start = bad_after == 1  # the last candle is the only one not steppable
            self._can_start[-1] = False
        else:
            bad = np.concatenate(([0], np.cumsum(~steppable)))
            can = np.zeros(n, dtype=bool)
            if n - length > 0:
                can[: n - length] = (bad[length:n] - bad[: n - length]) == 0
            self._can_start = can
        starts = np.flatnonzero(self._can_start)
        if starts.size == 0:
            raise ValueError(
                f"no episode of {length or 'any number of'} steps fits: "
                f"{int(steppable.sum())} candles have valid features and a next candle"
            )
        starts.setflags(write=False)
        self._starts = starts
        bound = max(CLIP, float(np.abs(matrix).max()) if matrix.size else CLIP)
        self.observation_space = spaces.Box(-bound, bound, (matrix.shape[1],), np.float32)
        self.action_space = spaces.Discrete(self.config.actions)
        self._n = n
        self._t = int(starts[0])
        self._end = self._t  # no episode before reset

    @property
    def starts(self) -> NDArray[np.int64]:
        """The candles an episode may start at."""
        return self._starts

    @property
    def index(self) -> int:
        """The candle of the current observation."""
        return self._t

    def _info(self) -> dict[str, Any]:
        led = self._ledger
        return {
            "equity": led.equity,
            "position": led.position,
            "fees": led.fees,
            "slippage": led.slippage,
            "funding": led.funding,
            "trades": led.trades,
            "index": self._t,
        }

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        super().reset(seed=seed)
        start = None if options is None else options.get("start")
        if start is None:
            if self.config.steps is None:
                start = int(self._starts[0])
            else:
                start = int(self._starts[self.np_random.integers(self._starts.size)])
        else:
            start = int(start)
            if not (0 <= start < self._n and self._can_start[start]):
                raise ValueError(
                    f"no episode can start at candle {start} (valid starts: "
                    f"{int(self._starts[0])}..{int(self._starts[-1])})"
                )
        steps = self.config.steps
        self._t = start
        self._end = self._n - 1 if steps is None else start + steps
        self._ledger.reset()
        return self._rows[start].copy(), self._info()

    def step(
        self, action: int | np.integer[Any]
    ) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        t = self._t
        if t >= self._end:
            raise RuntimeError("the episode is over: call reset()")
        led = self._ledger
        _, reward = led.apply(t, int(action))
        t += 1
        self._t = t
        info = {
            "equity": led.equity,
            "position": led.position,
            "fees": led.fees,
            "slippage": led.slippage,
            "funding": led.funding,
            "trades": led.trades,
            "index": t,
        }
        return self._rows[t].copy(), reward, led.equity <= 0.0, t >= self._end, info


@dataclass(frozen=True, slots=True, eq=False)
class ActionRun:
    """``simulate_actions``'s result, one row per candle ``t``: ``equity`` at its close,
    ``returns`` (``equity[t] / equity[t - 1] - 1``), ``reward`` the environment's reward of the
    step ending at that close, ``position`` held over the candle (-1, 0, 1), and the ``fees``,
    ``slippage`` and ``funding`` paid in it (row 0: the initial equity, zeros)."""

    equity: FloatArray
    returns: FloatArray
    reward: FloatArray
    position: NDArray[np.int8]
    fees: FloatArray
    slippage: FloatArray
    funding: FloatArray
    trades: int

    @property
    def final_equity(self) -> float:
        return float(self.equity[-1])


def simulate_actions(
    candles: CandleArrays,
    actions: ArrayLike,
    config: EnvConfig | None = None,
    *,
    funding: Funding | None = None,
) -> ActionRun:
    """Play ``actions[t]`` (the action at the close of candle ``t``; ``n`` or ``n - 1`` of them,
    the last candle's is ignored) over the candles with ``TradingEnv``'s rules, from the first
    candle to the last (one episode, the same transition code, so the same equity and rewards
    as stepping the environment; ``episode_length`` does not apply). The run stops trading when
    the equity reaches 0 (the environment terminates). Raise ``ValueError`` on bad actions."""
    config = config or EnvConfig()
    ohlcv = OHLCV.of(candles)
    n = len(ohlcv)
    acts = np.asarray(actions)
    if acts.ndim != 1 or acts.size not in (n, n - 1):
        raise ValueError(f"expected {n} or {n - 1} actions, got shape {acts.shape}")
    if acts.size and (
        not np.issubdtype(acts.dtype, np.integer) and not np.all(acts == np.round(acts))
    ):
        raise ValueError("actions must be integers")
    led = _Ledger(ohlcv, config, funding)
    equity = np.full(n, led.initial_equity)
    reward = np.zeros(n)
    position = np.zeros(n, dtype=np.int8)
    fees = np.zeros(n)
    slippage = np.zeros(n)
    paid = np.zeros(n)
    apply = led.apply
    for t, a in enumerate(acts[: n - 1].astype(np.int64).tolist()):
        _, reward[t + 1] = apply(t, a)
        equity[t + 1] = led.equity
        position[t + 1] = led.position
        fees[t + 1] = led.step_fees
        slippage[t + 1] = led.step_slippage
        paid[t + 1] = led.step_funding
        if led.equity <= 0.0:
            equity[t + 2 :] = led.equity
            break
    returns = np.zeros(n)
    if n > 1:
        returns[1:] = equity[1:] / equity[:-1] - 1.0
    return ActionRun(equity, returns, reward, position, fees, slippage, paid, led.trades)
