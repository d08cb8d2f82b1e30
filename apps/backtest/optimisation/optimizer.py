"""ParameterOptimizer: search a strategy's parameters (optuna TPE or a grid) and validate them
walk-forward, reporting in-sample and out-of-sample figures side by side so over-fitting shows.

Any backtestable registered strategy kind can be searched (``SCHEMAS`` minus
``NOT_BACKTESTABLE``). Every evaluation is a backtest by the same kernel as ``manage.py
backtest`` (``backtest_check`` builds the run): ``ema_cross`` on its batch fast path, every
other kind with its own ``signals`` through the signal kernel, with the optimiser's fee, stake
and cash (no slippage, ``stop_first``). Searches are reproducible: TPE is seeded and asked in
rounds of ``batch`` trials that are told back in trial-number order (``SearchPlanner``), so the
sequence of parameter sets depends only on the seed, the space, the data and the batch size,
never on which process evaluated a trial or when. The grid is enumerated in a fixed order.
Parameter combinations the strategy refuses (e.g. fast >= slow, or more candles needed than a
window holds) score as the worst value, so the search moves away from them.

The space: names of the kind's schema with a list of values or ``{"low", "high"}`` within the
schema's bounds, and the risk keys; without one, ``default_space``. Integer parameters are
searched as integers, the others as floats.

Several data files (one symbol each): every trial is backtested on each file's part of the
window, each file alone with the same cash and stake, and its objective is the MEAN of the
files' objectives (a parameter set refused on one file is refused). ``align_series`` says how
the files must line up so that a window covers the same dates in each.

Risk parameters can be searched with the strategy's (``RISK_KEYS``): the position size of each
trade is worked out from them by ``position_notional``, with the live bots' own
``apps.risk.domain.sizing.size_position`` when the risk per trade is searched (one position at a
time per file, so the exposure cap is a cap on that position). ``ema_cross`` trades that
notional on its fast path (leverage scales it, no liquidation); the other kinds trade it at
the searched leverage in the signal kernel (margin notional / leverage, liquidation
included). ``risk_per_trade`` needs the fixed stop fraction ``sl`` of the kind's parameters.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple

import optuna

from apps.backtest.research.domain.engine import (
    BacktestResult,
    backtest_ema_cross,
    backtest_strategy,
)
from apps.backtest.research.domain.metrics import Metrics
from apps.backtest.research.domain.walkforward import (
    OBJECTIVES,
    Window,
    objective_value,
    walk_forward_windows,
)
from apps.backtest.services import NOT_BACKTESTABLE, BacktestError, backtest_check
from apps.exchange.domain.fees import DEFAULT_TAKER_FEE
from apps.market.data import Klines
from apps.risk.domain.sizing import InstrumentFilters, SizingLimits, size_position
from apps.strategies.domain.base import StrategyError
from apps.strategies.domain.params import SCHEMAS, ParameterError, ParamSpec
from apps.strategies.domain.registry import build_strategy

WORST = -1e9
Progress = Callable[[int, int], None]

#: Searchable risk keys: (minimum, maximum, meaning). Sizes are USDT, fractions are of 1.
RISK_KEYS: dict[str, tuple[float, float, str]] = {
    "stake": (1.0, 1e9, "margin per trade in USDT (default: --stake)"),
    "leverage": (
        1.0,
        125.0,
        "notional = stake x leverage; with risk_per_trade a cap: "
        "notional <= cash x leverage (default 1)",
    ),
    "risk_per_trade": (
        0.0001,
        0.2,
        "size from the stop instead of the stake: notional = "
        "cash x risk_per_trade / sl (as RiskSettings.risk_per_trade; kinds with an sl only)",
    ),
    "max_exposure": (
        1.0,
        1e12,
        "cap on the position's notional in USDT (as RiskSettings.max_exposure)",
    ),
}
#: Default spaces that replace the schema-derived one (``default_space``): ema_cross keeps the
#: space it has always been searched over.
DEFAULT_SPACES: dict[str, dict[str, Any]] = {
    "ema_cross": {
        "fast": {"low": 5, "high": 30},
        "slow": {"low": 20, "high": 120},
        "sl": {"low": 0.005, "high": 0.05},
        "tp": {"low": 0.01, "high": 0.1},
    }
}
#: At most this many parameters are searched by default (the schema's first ones that qualify).
MAX_DEFAULT_PARAMS = 8
#: Metrics that are counts: summed over files (the others are averaged).
_COUNTS = ("n_trades", "n_long", "n_short", "liquidations")


class OptimizerError(ValueError):
    """The search space or the settings are invalid; the message says why in one line."""


NOT_OPTIMISABLE = {
    "ai": "it trades a trained model's actions: train and judge models with train_agent and "
    "ai_walkforward, backtest one with backtest --strategy ai --model ID"
}


def backtestable_kinds() -> list[str]:
    """The strategy kinds the optimiser can search: every registered kind that trades on candles
    from its parameters alone."""
    return sorted(set(SCHEMAS) - set(NOT_BACKTESTABLE) - set(NOT_OPTIMISABLE))


def check_strategy(kind: str) -> None:
    """Raise OptimizerError in one line unless ``kind`` is a backtestable registered kind."""
    why = NOT_BACKTESTABLE.get(kind) or NOT_OPTIMISABLE.get(kind)
    if why:
        raise OptimizerError(f"strategy {kind!r} cannot be optimised: {why}")
    if kind not in SCHEMAS:
        raise OptimizerError(
            f"unknown strategy {kind!r} (known: {', '.join(backtestable_kinds())})"
        )


def _default_range(spec: ParamSpec) -> dict[str, Any] | None:
    default = float(spec.default)
    if not default > 0:
        return None
    low, high = default / 2, default * 2
    if spec.minimum is not None:
        low = max(low, float(spec.minimum))
    if spec.maximum is not None:
        high = min(high, float(spec.maximum))
    if spec.kind is int:
        low, high = math.ceil(low), math.floor(high)
    return {"low": low, "high": high} if low < high else None


def default_space(kind: str) -> dict[str, Any]:
    """The space searched when none is given; raise OptimizerError for an unknown kind.

    ``DEFAULT_SPACES[kind]`` where set; otherwise from the kind's schema: each parameter whose
    default is a positive number ranges from half to twice its default, within the schema's
    bounds (integers for integer parameters); parameters left with a single value keep their
    default; the first ``MAX_DEFAULT_PARAMS`` parameters so found, in schema order.
    """
    check_strategy(kind)
    if kind in DEFAULT_SPACES:
        return dict(DEFAULT_SPACES[kind])
    space = {}
    for spec in SCHEMAS[kind].params:
        found = _default_range(spec)
        if found is not None and len(space) < MAX_DEFAULT_PARAMS:
            space[spec.name] = found
    if not space:
        raise OptimizerError(f"strategy {kind!r} has no parameter to search by default; give one")
    return space


def position_notional(
    risk: Mapping[str, Any], *, stake: float, cash: float, stop_loss: float | None
) -> float:
    """The notional (USDT) of each trade under the searched risk settings.

    Without risk keys it is ``stake`` (as ``manage.py backtest``). ``stake`` and ``leverage``:
    notional = stake x leverage, capped by ``max_exposure``. ``risk_per_trade`` (needs a
    stop-loss): the live sizing rule itself (``_risk_sized_notional``), i.e. cash x
    risk_per_trade / sl, capped at cash x leverage (1 when not searched) and ``max_exposure``.
    """
    leverage = float(risk.get("leverage", 1.0))
    if "risk_per_trade" in risk and stop_loss:
        return _risk_sized_notional(risk, leverage=leverage, cash=cash, stop_loss=stop_loss)
    notional = float(risk.get("stake", stake)) * leverage
    if "max_exposure" in risk:
        notional = min(notional, float(risk["max_exposure"]))
    return notional


def _risk_sized_notional(
    risk: Mapping[str, Any], *, leverage: float, cash: float, stop_loss: float
) -> float:
    """The live bots' sizing rule (``apps.risk.domain.sizing.size_position``, as the risk gate
    calls it with a bot's settings) on a unit price with the stop ``stop_loss`` below it: the
    optimiser scores exactly the notional a bot with these settings would trade."""
    equity, lev = _dec(cash), _dec(leverage)
    multiple = lev  # the profile's exposure multiple: min(leverage, max_exposure / equity)
    if "max_exposure" in risk:
        multiple = min(lev, _dec(risk["max_exposure"]) / equity)
    if not 0 < stop_loss < 1 or multiple <= 0:
        return 0.0
    decision = size_position(
        equity=equity,
        entry_price=Decimal(1),
        stop_price=Decimal(1) - _dec(stop_loss),
        limits=SizingLimits(
            risk_pct=_dec(risk["risk_per_trade"]),
            max_leverage=lev,
            max_exposure_multiple=multiple,
            max_open_positions=1,
        ),
        filters=InstrumentFilters(step_size=Decimal("1e-12")),
    )
    return float(decision.notional) if decision.ok else 0.0


def _dec(value: Any) -> Decimal:
    return Decimal(repr(float(value)))


@dataclass(frozen=True, slots=True)
class FileScore:
    """One file's part of an evaluation: its objective and metrics (None when refused)."""

    label: str  # SYMBOL-interval
    value: float
    metrics: Metrics | None


class Evaluation(NamedTuple):
    """An evaluated parameter set: the mean of the files' objectives, and each file's."""

    value: float
    files: tuple[FileScore, ...]

    def by_file(self) -> dict[str, float]:
        return {f.label: f.value for f in self.files}

    def plain(self) -> dict[str, Any]:
        """Scalar metrics for JSON storage (inf and nan become None): the one file's figures,
        or for several the mean of each figure (counts: the sum), and under ``files`` each
        file's figures with its ``objective``."""
        per_file = [plain_metrics(f.metrics) for f in self.files]
        out: dict[str, Any] = {}
        if len(per_file) == 1:
            out.update(per_file[0])
        elif all(per_file):  # all ran (a refused set has no metrics)
            for name in per_file[0]:
                figures = [m[name] for m in per_file]
                if any(v is None for v in figures):
                    out[name] = None
                else:
                    out[name] = sum(figures) if name in _COUNTS else sum(figures) / len(figures)
        out["files"] = {
            f.label: {**m, "objective": f.value} for f, m in zip(self.files, per_file, strict=True)
        }
        return out


@dataclass(frozen=True, slots=True)
class Trial:
    params: dict[str, Any]
    value: float


@dataclass(frozen=True, slots=True)
class SearchResult:
    best_params: dict[str, Any]
    best_value: float
    trials: list[Trial]


@dataclass(frozen=True, slots=True)
class WindowResult:
    window: Window
    best_params: dict[str, Any]
    in_sample: float
    out_of_sample: float
    in_sample_metrics: dict[str, Any]
    out_of_sample_metrics: dict[str, Any]
    in_sample_by_file: dict[str, float] = field(default_factory=dict)
    out_of_sample_by_file: dict[str, float] = field(default_factory=dict)


@dataclass
class WalkForwardReport:
    objective: str
    windows: list[WindowResult] = field(default_factory=list)

    @property
    def mean_in_sample(self) -> float:
        return sum(w.in_sample for w in self.windows) / len(self.windows)

    @property
    def mean_out_of_sample(self) -> float:
        return sum(w.out_of_sample for w in self.windows) / len(self.windows)


def _moment(ms: int) -> str:
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def series_label(klines: Klines) -> str:
    """``SYMBOL-interval``: how a file is named in the figures."""
    return f"{klines.symbol}-{klines.interval}"


def align_series(series: Sequence[Klines]) -> list[Klines]:
    """Cut several files' candles to the ones they all hold; raise OptimizerError in one line.

    Walk-forward windows are candle index ranges, the same in every file, so the files must hold
    the same candles: one interval, no SYMBOL-interval twice, and, within their common span (the
    latest first candle to the earliest last candle; earlier and later candles are dropped), the
    same open times, so that a window covers the same dates in each. A candle missing from one
    file refuses the set. One file is returned as it is.
    """
    if not series:
        raise OptimizerError("give at least one data file")
    if len(series) == 1:
        return list(series)
    first = series[0]
    seen: set[str] = set()
    for k in series:
        if k.interval != first.interval:
            raise OptimizerError(
                f"{series_label(k)}: all data files must have one interval "
                f"({series_label(first)} is {first.interval})"
            )
        if series_label(k) in seen:
            raise OptimizerError(f"{series_label(k)} is given twice")
        seen.add(series_label(k))
    start = max(int(k.open_time[0]) for k in series)
    end = min(int(k.open_time[-1]) for k in series)
    if start > end:
        raise OptimizerError(
            "the data files share no candles: "
            + ", ".join(
                f"{series_label(k)} {_moment(k.open_time[0])}..{_moment(k.open_time[-1])}"
                for k in series
            )
        )
    cut = []
    for k in series:
        lo = int(k.open_time.searchsorted(start))
        hi = int(k.open_time.searchsorted(end, side="right"))
        cut.append(k.slice(lo, hi))
    times = cut[0].open_time
    for k in cut[1:]:
        if len(k) != len(times) or bool((k.open_time != times).any()):
            n = min(len(k), len(times))
            differ = (k.open_time[:n] != times[:n]).nonzero()[0]
            i = int(differ[0]) if differ.size else n
            where = (
                f"{series_label(k)} has a candle at {_moment(k.open_time[i])} where "
                f"{series_label(cut[0])} has {_moment(times[i])}"
                if i < n
                else f"{series_label(k)} has {len(k)} candles, {series_label(cut[0])} {len(times)}"
            )
            raise OptimizerError(
                f"the data files must hold the same candles in their common span "
                f"{_moment(start)}..{_moment(end)}: {where}"
            )
    return cut


def _as_series(candles: Klines | Sequence[Klines]) -> list[Klines]:
    return [candles] if isinstance(candles, Klines) else list(candles)


def _space_kind(values: Any) -> str:
    if isinstance(values, list):
        return "choice"
    if isinstance(values, Mapping) and {"low", "high"} <= set(values):
        return "range"
    raise OptimizerError('each search-space entry is a list of values or {"low": .., "high": ..}')


def _spec(strategy: str, name: str) -> ParamSpec | None:
    return next((p for p in SCHEMAS[strategy].params if p.name == name), None)


def _check_value(strategy: str, name: str, value: Any) -> None:
    """One value a search may try for ``name``: a number within the key's bounds."""
    spec = _spec(strategy, name)
    if spec is None:
        low, high, _ = RISK_KEYS[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise OptimizerError(f"space: {name} must be a number, got {value!r}")
        if not low <= value <= high:
            raise OptimizerError(f"space: {name} must be in [{low:g}, {high:g}], got {value}")
        return
    try:
        spec.coerce(value)
    except ParameterError as exc:
        raise OptimizerError(f"space: {exc}") from exc


def validate_space(space: Any, method: str, strategy: str = "ema_cross") -> dict[str, Any]:
    """Check a search space of ``strategy``; raise OptimizerError with one line naming the first
    problem (unknown names, values of the wrong type or outside the schema's bounds)."""
    check_strategy(strategy)
    if not isinstance(space, Mapping) or not space:
        raise OptimizerError("the search space must be a non-empty JSON object")
    names = [p.name for p in SCHEMAS[strategy].params]
    unknown = sorted(set(space) - set(names) - set(RISK_KEYS))
    if unknown:
        raise OptimizerError(
            f"unknown parameter(s) in the space: {', '.join(unknown)} ({strategy}: "
            f"{', '.join(names)}; risk: {', '.join(RISK_KEYS)})"
        )
    if "risk_per_trade" in space and "sl" not in names:
        raise OptimizerError(
            f"space: risk_per_trade sizes from a fixed stop fraction sl, which {strategy} "
            "does not have (its stops come from its signals)"
        )
    for name, values in space.items():
        kind = _space_kind(values)
        if kind == "choice":
            if not values:
                raise OptimizerError(f"space: {name} has an empty list of values")
            for value in values:
                _check_value(strategy, name, value)
        else:
            low, high = values["low"], values["high"]
            _check_value(strategy, name, low)
            _check_value(strategy, name, high)
            if low > high:
                raise OptimizerError(f"space: {name} low ({low}) is above high ({high})")
    if method == "grid" and any(_space_kind(v) != "choice" for v in space.values()):
        raise OptimizerError("a grid search needs a list of values for every parameter")
    return dict(space)


class SearchPlanner:
    """Asks the parameter sets of one search in rounds; results are told back in number order.

    TPE: each round asks ``batch`` trials of a study whose sampler is seeded, and the next round
    is asked only once all of them are told, in trial-number order. The sequence of parameter
    sets therefore depends on the seed, the space, the batch size and the values told, not on
    who evaluated the trials or in which order they finished. Replaying the same values into a
    fresh planner reproduces the same asks (how a run is resumed). Grid: one round, every
    combination in a fixed order (names sorted), the first ``trials`` of them.
    """

    def __init__(self, optimizer: ParameterOptimizer) -> None:
        self._opt = optimizer
        self._names = sorted(optimizer.space)
        self._open: dict[int, optuna.trial.Trial] = {}
        self._asked = 0
        if optimizer.method == "grid":
            combos = itertools.product(*(optimizer.space[n] for n in self._names))
            self._grid = [
                dict(zip(self._names, c, strict=True))
                for c in itertools.islice(combos, optimizer.trials)
            ]
            self.total = len(self._grid)
            self._study: optuna.Study | None = None
        else:
            optuna.logging.set_verbosity(logging.WARNING)
            self._study = optuna.create_study(
                direction="maximize", sampler=optuna.samplers.TPESampler(seed=optimizer.seed)
            )
            self.total = optimizer.trials

    @property
    def done(self) -> bool:
        return self._asked >= self.total and not self._open

    def next_round(self) -> list[tuple[int, dict[str, Any]]]:
        """The (number, params) of the next round; empty when the search is complete."""
        if self._open:
            raise RuntimeError("tell every trial of the round before asking the next")
        if self._study is None:
            asked = list(enumerate(self._grid))[self._asked :]
            self._asked = self.total
            return asked
        out = []
        for _ in range(min(self._opt.batch, self.total - self._asked)):
            trial = self._study.ask()
            params = {n: self._opt.suggest(trial, n, self._opt.space[n]) for n in self._names}
            self._open[trial.number] = trial
            out.append((trial.number, params))
        self._asked += len(out)
        return out

    def tell_round(self, values: Mapping[int, float]) -> None:
        """Tell the values of the open round, in trial-number order (deterministic)."""
        if self._study is None:
            return
        if set(values) != set(self._open):
            raise RuntimeError("tell_round needs the value of every trial of the round")
        for number in sorted(values):
            self._study.tell(self._open.pop(number), float(values[number]))


class ParameterOptimizer:
    def __init__(
        self,
        *,
        space: Mapping[str, Any] | None = None,
        objective: str = "sharpe",
        method: str = "tpe",
        trials: int = 50,
        seed: int = 0,
        fee: float = DEFAULT_TAKER_FEE,
        stake: float = 1000.0,
        cash: float = 10000.0,
        batch: int = 1,
        strategy: str = "ema_cross",
    ) -> None:
        """Check the settings (``space`` None: ``default_space(strategy)``); raise
        OptimizerError in one line."""
        check_strategy(strategy)
        if method not in ("tpe", "grid"):
            raise OptimizerError(f"method must be tpe or grid, got {method!r}")
        if trials < 1:
            raise OptimizerError(f"trials must be at least 1, got {trials}")
        if batch < 1:
            raise OptimizerError(f"batch must be at least 1, got {batch}")
        if not 0 <= seed < 2**32:
            raise OptimizerError(f"seed must be in [0, 2**32), got {seed}")
        if objective not in OBJECTIVES:
            raise OptimizerError(
                f"unknown objective {objective!r} (known: {', '.join(sorted(OBJECTIVES))})"
            )
        if not (fee >= 0 and stake > 0 and cash > 0):
            raise OptimizerError("fee must be >= 0, stake and cash positive")
        if space is None and method == "grid":
            raise OptimizerError("a grid search needs a space with a list of values per parameter")
        self.strategy = strategy
        self.space = validate_space(
            default_space(strategy) if space is None else space, method, strategy
        )
        self.objective, self.method = objective, method
        self.trials, self.seed, self.batch = trials, seed, batch
        self.fee, self.stake, self.cash = fee, stake, cash

    def planner(self) -> SearchPlanner:
        return SearchPlanner(self)

    def _runner(self, params: Mapping[str, Any]) -> Callable[[Klines], BacktestResult] | None:
        """The backtest of one parameter set, as ``manage.py backtest`` runs it; None when the
        strategy refuses the parameters."""
        risk = {
            k: v for k, v in params.items() if _spec(self.strategy, k) is None and k in RISK_KEYS
        }
        own = {k: v for k, v in params.items() if k not in risk}
        try:
            values, _, execution, config = backtest_check(
                strategy=self.strategy, params=own, fee=self.fee, stake=self.stake
            )
        except BacktestError:
            return None
        notional = position_notional(
            risk, stake=self.stake, cash=self.cash, stop_loss=values.get("sl")
        )
        if config is not None:  # ema_cross: its batch fast path, trading the notional
            ema = replace(config, stake=notional)
            return lambda k: backtest_ema_cross(k, ema, initial_capital=self.cash)
        leverage = float(risk.get("leverage", 1.0))
        execution = replace(execution, stake=notional / leverage, leverage=leverage)
        strategy = build_strategy(self.strategy, values)
        return lambda k: backtest_strategy(k, strategy, execution, initial_capital=self.cash)

    def check_data(self, candles: Klines | Sequence[Klines]) -> None:
        """Raise OptimizerError in one line when the strategy with its default parameters cannot
        run on ``candles`` (e.g. it needs more than candles), rather than score every trial
        worst."""
        run = self._runner({})
        for k in _as_series(candles):
            try:
                if run is not None:
                    run(k)
            except StrategyError as exc:
                raise OptimizerError(
                    f"{self.strategy} with its default parameters cannot run on "
                    f"{series_label(k)}: {exc}"
                ) from exc

    def evaluate(self, params: Mapping[str, Any], candles: Klines | Sequence[Klines]) -> Evaluation:
        """The objective of one parameter set on ``candles`` (one series or several): the mean
        of each series' objective; the worst value when the strategy refuses the parameters
        or cannot run on one of the series."""
        series = _as_series(candles)
        refused = Evaluation(WORST, tuple(FileScore(series_label(k), WORST, None) for k in series))
        run = self._runner(params)
        if run is None:
            return refused
        scores = []
        for k in series:
            try:
                metrics = run(k).metrics
            except StrategyError:  # e.g. needs more candles than the window holds
                return refused
            scores.append(
                FileScore(series_label(k), objective_value(self.objective, metrics), metrics)
            )
        return Evaluation(sum(s.value for s in scores) / len(scores), tuple(scores))

    def search(
        self, candles: Klines | Sequence[Klines], progress: Progress | None = None
    ) -> SearchResult:
        """Search in this process, round by round as ``SearchPlanner`` asks."""
        trials: list[Trial] = []
        planner = self.planner()
        while not planner.done:
            values = {}
            for number, params in planner.next_round():
                values[number] = self.evaluate(params, candles).value
                trials.append(Trial(params, values[number]))
                if progress:
                    progress(len(trials), planner.total)
            planner.tell_round(values)
        best = max(trials, key=lambda t: t.value)  # first best on ties: deterministic
        return SearchResult(best.params, best.value, trials)

    def suggest(self, trial: optuna.Trial, name: str, values: Any) -> Any:
        """The value of ``name`` TPE asks: from the list, else an integer for integer
        parameters (and for risk keys with integer bounds), else a float."""
        if isinstance(values, list):
            return trial.suggest_categorical(name, values)
        low, high = values["low"], values["high"]
        spec = _spec(self.strategy, name)
        integer = (
            spec.kind is int if spec is not None else isinstance(low, int) and isinstance(high, int)
        )
        if integer:
            return trial.suggest_int(name, int(low), int(high))
        return trial.suggest_float(name, float(low), float(high))

    def walk_forward(
        self,
        candles: Klines | Sequence[Klines],
        *,
        train: int,
        test: int,
        step: int | None = None,
        warmup: int = 0,
        progress: Progress | None = None,
    ) -> WalkForwardReport:
        """Optimise on each training window and score the winner on the next test window.

        Several series are aligned first (``align_series``). Each part is run with ``warmup``
        candles before it so indicators are seeded; those candles are excluded from nothing
        else (the kernel's own warm-up applies as usual).
        """
        series = align_series(_as_series(candles))
        try:
            windows = walk_forward_windows(
                len(series[0]), train=train, test=test, step=step, warmup=warmup
            )
        except ValueError as exc:
            raise OptimizerError(str(exc)) from exc
        report = WalkForwardReport(self.objective)
        for i, w in enumerate(windows, start=1):
            train_part = [k.slice(w.train_start - warmup, w.train_end) for k in series]
            test_part = [k.slice(w.test_start - warmup, w.test_end) for k in series]
            found = self.search(train_part)
            in_sample = self.evaluate(found.best_params, train_part)
            out_of_sample = self.evaluate(found.best_params, test_part)
            report.windows.append(
                WindowResult(
                    window=w,
                    best_params=found.best_params,
                    in_sample=found.best_value,
                    out_of_sample=out_of_sample.value,
                    in_sample_metrics=in_sample.plain(),
                    out_of_sample_metrics=out_of_sample.plain(),
                    in_sample_by_file=in_sample.by_file(),
                    out_of_sample_by_file=out_of_sample.by_file(),
                )
            )
            if progress:
                progress(i, len(windows))
        return report


def plain_metrics(metrics: Metrics | None) -> dict[str, Any]:
    """Scalar metrics for JSON storage: inf and nan (no JSON for them) become None."""
    if metrics is None:
        return {}
    return {
        k: v if not isinstance(v, float) or math.isfinite(v) else None
        for k, v in metrics.as_dict().items()
        if not isinstance(v, dict)
    }


def window_dates(window: Window, open_time: Sequence[int]) -> tuple[str, str]:
    """The UTC days of a window's training and test parts, as ``first..last``."""

    def day(i: int) -> str:
        return datetime.fromtimestamp(int(open_time[i]) / 1000, tz=UTC).strftime("%Y-%m-%d")

    return (
        f"{day(window.train_start)}..{day(window.train_end - 1)}",
        f"{day(window.test_start)}..{day(window.test_end - 1)}",
    )
