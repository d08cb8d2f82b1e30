"""ParameterOptimizer: search a strategy's parameters (optuna TPE or a grid) and validate them
walk-forward, reporting in-sample and out-of-sample figures side by side so over-fitting shows.

Every evaluation is a backtest by the same kernel as ``manage.py backtest``. Searches are
reproducible: TPE is seeded and asked in rounds of ``batch`` trials that are told back in
trial-number order (``SearchPlanner``), so the sequence of parameter sets depends only on the
seed, the space, the data and the batch size, never on which process evaluated a trial or when.
The grid is enumerated in a fixed order. Parameter combinations the strategy refuses (e.g.
fast >= slow) score as the worst value, so the search moves away from them.

Risk parameters can be searched with the strategy's (``RISK_KEYS``): the position size of each
trade is worked out from them by ``position_notional``, following steps 1, 3 and 4 of
``apps.risk.domain.sizing`` (ema_cross holds one position at a time, so the exposure cap is a
cap on that position).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna

from apps.backtest.domain.ema_cross import EmaCrossParams
from apps.backtest.domain.engine import backtest_ema_cross
from apps.backtest.domain.metrics import Metrics
from apps.backtest.domain.walkforward import (
    OBJECTIVES,
    Window,
    objective_value,
    walk_forward_windows,
)
from apps.market.data import Klines
from apps.strategies.domain.params import SCHEMAS, ParameterError, validate_parameters

WORST = -1e9
Progress = Callable[[int, int], None]

STRATEGY_KEYS = tuple(p.name for p in SCHEMAS["ema_cross"].params)
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
        "cash x risk_per_trade / sl (as RiskSettings.risk_per_trade)",
    ),
    "max_exposure": (
        1.0,
        1e12,
        "cap on the position's notional in USDT (as RiskSettings.max_exposure)",
    ),
}


class OptimizerError(ValueError):
    """The search space or the settings are invalid; the message says why in one line."""


def position_notional(
    risk: Mapping[str, Any], *, stake: float, cash: float, stop_loss: float | None
) -> float:
    """The notional (USDT) of each trade under the searched risk settings.

    Without risk keys it is ``stake`` (as ``manage.py backtest``). ``stake`` and ``leverage``:
    notional = stake x leverage. ``risk_per_trade`` (needs a stop-loss): notional = cash x
    risk_per_trade / sl, so a stop costs that share of the starting cash, capped at
    cash x leverage (leverage 1 when not searched). ``max_exposure`` caps the notional.
    """
    leverage = float(risk.get("leverage", 1.0))
    if "risk_per_trade" in risk and stop_loss:
        notional = min(cash * float(risk["risk_per_trade"]) / stop_loss, cash * leverage)
    else:
        notional = float(risk.get("stake", stake)) * leverage
    if "max_exposure" in risk:
        notional = min(notional, float(risk["max_exposure"]))
    return notional


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


def _space_kind(values: Any) -> str:
    if isinstance(values, list):
        return "choice"
    if isinstance(values, Mapping) and {"low", "high"} <= set(values):
        return "range"
    raise OptimizerError('each search-space entry is a list of values or {"low": .., "high": ..}')


def _check_value(name: str, value: Any) -> None:
    """One value a search may try for ``name``: a number within the key's bounds."""
    if name in RISK_KEYS:
        low, high, _ = RISK_KEYS[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise OptimizerError(f"space: {name} must be a number, got {value!r}")
        if not low <= value <= high:
            raise OptimizerError(f"space: {name} must be in [{low:g}, {high:g}], got {value}")
        return
    spec = next(p for p in SCHEMAS["ema_cross"].params if p.name == name)
    try:
        spec.coerce(value)
    except ParameterError as exc:
        raise OptimizerError(f"space: {exc}") from exc


def validate_space(space: Any, method: str) -> dict[str, Any]:
    """Check a search space; raise OptimizerError with one line naming the first problem."""
    if not isinstance(space, Mapping) or not space:
        raise OptimizerError("the search space must be a non-empty JSON object")
    unknown = sorted(set(space) - set(STRATEGY_KEYS) - set(RISK_KEYS))
    if unknown:
        raise OptimizerError(
            f"unknown parameter(s) in the space: {', '.join(unknown)} (strategy: "
            f"{', '.join(STRATEGY_KEYS)}; risk: {', '.join(RISK_KEYS)})"
        )
    for name, values in space.items():
        kind = _space_kind(values)
        if kind == "choice":
            if not values:
                raise OptimizerError(f"space: {name} has an empty list of values")
            for value in values:
                _check_value(name, value)
        else:
            low, high = values["low"], values["high"]
            _check_value(name, low)
            _check_value(name, high)
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
            params = {
                n: ParameterOptimizer._suggest(trial, n, self._opt.space[n]) for n in self._names
            }
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
        space: Mapping[str, Any],
        objective: str = "sharpe",
        method: str = "tpe",
        trials: int = 50,
        seed: int = 0,
        fee: float = 0.0004,
        stake: float = 1000.0,
        cash: float = 10000.0,
        batch: int = 1,
    ) -> None:
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
        self.space = validate_space(space, method)
        self.objective, self.method = objective, method
        self.trials, self.seed, self.batch = trials, seed, batch
        self.fee, self.stake, self.cash = fee, stake, cash

    def planner(self) -> SearchPlanner:
        return SearchPlanner(self)

    def evaluate(self, params: Mapping[str, Any], candles: Klines) -> tuple[float, Metrics | None]:
        """The objective of one parameter set on ``candles`` (worst value when refused)."""
        risk = {k: v for k, v in params.items() if k in RISK_KEYS}
        try:
            values = validate_parameters(
                "ema_cross", {k: v for k, v in params.items() if k not in RISK_KEYS}
            )
        except ParameterError:
            return WORST, None
        stake = position_notional(risk, stake=self.stake, cash=self.cash, stop_loss=values["sl"])
        result = backtest_ema_cross(
            candles,
            EmaCrossParams(
                fast=values["fast"],
                slow=values["slow"],
                warmup=values["warmup"],
                stop_loss=values["sl"],
                take_profit=values["tp"],
                stake=stake,
                fee=self.fee,
            ),
            initial_capital=self.cash,
        )
        return objective_value(self.objective, result.metrics), result.metrics

    def search(self, candles: Klines, progress: Progress | None = None) -> SearchResult:
        """Search in this process, round by round as ``SearchPlanner`` asks."""
        trials: list[Trial] = []
        planner = self.planner()
        while not planner.done:
            values = {}
            for number, params in planner.next_round():
                values[number] = self.evaluate(params, candles)[0]
                trials.append(Trial(params, values[number]))
                if progress:
                    progress(len(trials), planner.total)
            planner.tell_round(values)
        best = max(trials, key=lambda t: t.value)  # first best on ties: deterministic
        return SearchResult(best.params, best.value, trials)

    @staticmethod
    def _suggest(trial: optuna.Trial, name: str, values: Any) -> Any:
        if isinstance(values, list):
            return trial.suggest_categorical(name, values)
        low, high = values["low"], values["high"]
        if isinstance(low, int) and isinstance(high, int):
            return trial.suggest_int(name, low, high)
        return trial.suggest_float(name, float(low), float(high))

    def walk_forward(
        self,
        candles: Klines,
        *,
        train: int,
        test: int,
        step: int | None = None,
        warmup: int = 0,
        progress: Progress | None = None,
    ) -> WalkForwardReport:
        """Optimise on each training window and score the winner on the next test window.

        Each part is run with ``warmup`` candles before it so indicators are seeded; those
        candles are excluded from nothing else (the kernel's own warm-up applies as usual).
        """
        try:
            windows = walk_forward_windows(
                len(candles), train=train, test=test, step=step, warmup=warmup
            )
        except ValueError as exc:
            raise OptimizerError(str(exc)) from exc
        report = WalkForwardReport(self.objective)
        for i, w in enumerate(windows, start=1):
            train_part = candles.slice(w.train_start - warmup, w.train_end)
            test_part = candles.slice(w.test_start - warmup, w.test_end)
            found = self.search(train_part)
            oos_value, oos_metrics = self.evaluate(found.best_params, test_part)
            _, is_metrics = self.evaluate(found.best_params, train_part)
            report.windows.append(
                WindowResult(
                    window=w,
                    best_params=found.best_params,
                    in_sample=found.best_value,
                    out_of_sample=oos_value,
                    in_sample_metrics=_plain(is_metrics),
                    out_of_sample_metrics=_plain(oos_metrics),
                )
            )
            if progress:
                progress(i, len(windows))
        return report


def _plain(metrics: Metrics | None) -> dict[str, Any]:
    if metrics is None:
        return {}
    return {k: v for k, v in metrics.as_dict().items() if not isinstance(v, dict)}


def plain_metrics(metrics: Metrics | None) -> dict[str, Any]:
    """Scalar metrics for JSON storage: inf and nan (no JSON for them) become None."""
    return {
        k: v if not isinstance(v, float) or math.isfinite(v) else None
        for k, v in _plain(metrics).items()
    }


def window_dates(window: Window, open_time: Sequence[int]) -> tuple[str, str]:
    """The UTC days of a window's training and test parts, as ``first..last``."""
    from datetime import UTC, datetime

    def day(i: int) -> str:
        return datetime.fromtimestamp(int(open_time[i]) / 1000, tz=UTC).strftime("%Y-%m-%d")

    return (
        f"{day(window.train_start)}..{day(window.train_end - 1)}",
        f"{day(window.test_start)}..{day(window.test_end - 1)}",
    )


def windows_table(report: WalkForwardReport, open_time: Sequence[int]) -> list[dict[str, Any]]:
    """Rows for printing or JSON: dates, winner, in-sample vs out-of-sample objective."""
    rows = []
    for w in report.windows:
        train, test = window_dates(w.window, open_time)
        rows.append(
            {
                "train": train,
                "test": test,
                "best_params": w.best_params,
                "in_sample": w.in_sample,
                "out_of_sample": w.out_of_sample,
                "in_sample_metrics": w.in_sample_metrics,
                "out_of_sample_metrics": w.out_of_sample_metrics,
            }
        )
    return rows
