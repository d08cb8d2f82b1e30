"""ParameterOptimizer: search a strategy's parameters (optuna TPE or a grid) and validate them
walk-forward, reporting in-sample and out-of-sample figures side by side so over-fitting shows.

Every evaluation is a backtest by the same kernel as ``manage.py backtest``. Searches are
reproducible: TPE is seeded, the grid is enumerated in a fixed order. Parameter combinations the
strategy refuses (e.g. fast >= slow) score as the worst value, so the search moves away from them.
"""

from __future__ import annotations

import itertools
import logging
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
from apps.strategies.domain.params import ParameterError, validate_parameters

WORST = -1e9
Progress = Callable[[int, int], None]


class OptimizerError(ValueError):
    """The search space or the settings are invalid; the message says why in one line."""


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
    ) -> None:
        if method not in ("tpe", "grid"):
            raise OptimizerError(f"method must be tpe or grid, got {method!r}")
        if trials < 1:
            raise OptimizerError(f"trials must be at least 1, got {trials}")
        known = {"fast", "slow", "warmup", "sl", "tp"}
        unknown = sorted(set(space) - known)
        if unknown:
            raise OptimizerError(f"unknown parameter(s) in the space: {', '.join(unknown)}")
        for values in space.values():
            _space_kind(values)
        if method == "grid" and any(_space_kind(v) != "choice" for v in space.values()):
            raise OptimizerError("a grid search needs a list of values for every parameter")
        if objective not in OBJECTIVES:
            raise OptimizerError(
                f"unknown objective {objective!r} (known: {', '.join(sorted(OBJECTIVES))})"
            )
        self.space, self.objective, self.method = dict(space), objective, method
        self.trials, self.seed = trials, seed
        self.fee, self.stake, self.cash = fee, stake, cash

    def evaluate(self, params: Mapping[str, Any], candles: Klines) -> tuple[float, Metrics | None]:
        """The objective of one parameter set on ``candles`` (worst value when refused)."""
        try:
            values = validate_parameters("ema_cross", dict(params))
        except ParameterError:
            return WORST, None
        result = backtest_ema_cross(
            candles,
            EmaCrossParams(
                fast=values["fast"],
                slow=values["slow"],
                warmup=values["warmup"],
                stop_loss=values["sl"],
                take_profit=values["tp"],
                stake=self.stake,
                fee=self.fee,
            ),
            initial_capital=self.cash,
        )
        return objective_value(self.objective, result.metrics), result.metrics

    def search(self, candles: Klines, progress: Progress | None = None) -> SearchResult:
        trials: list[Trial] = []
        if self.method == "grid":
            names = sorted(self.space)
            combos = list(itertools.product(*(self.space[n] for n in names)))[: self.trials]
            for i, combo in enumerate(combos, start=1):
                params = dict(zip(names, combo, strict=True))
                trials.append(Trial(params, self.evaluate(params, candles)[0]))
                if progress:
                    progress(i, len(combos))
        else:
            optuna.logging.set_verbosity(logging.WARNING)
            study = optuna.create_study(
                direction="maximize", sampler=optuna.samplers.TPESampler(seed=self.seed)
            )

            def objective(trial: optuna.Trial) -> float:
                params = {name: self._suggest(trial, name, v) for name, v in self.space.items()}
                value = self.evaluate(params, candles)[0]
                trials.append(Trial(params, value))
                if progress:
                    progress(len(trials), self.trials)
                return value

            study.optimize(objective, n_trials=self.trials)
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


def windows_table(report: WalkForwardReport, open_time: Sequence[int]) -> list[dict[str, Any]]:
    """Rows for printing or JSON: dates, winner, in-sample vs out-of-sample objective."""
    from datetime import UTC, datetime

    def day(i: int) -> str:
        return datetime.fromtimestamp(int(open_time[i]) / 1000, tz=UTC).strftime("%Y-%m-%d")

    return [
        {
            "train": f"{day(w.window.train_start)}..{day(w.window.train_end - 1)}",
            "test": f"{day(w.window.test_start)}..{day(w.window.test_end - 1)}",
            "best_params": w.best_params,
            "in_sample": w.in_sample,
            "out_of_sample": w.out_of_sample,
            "in_sample_metrics": w.in_sample_metrics,
            "out_of_sample_metrics": w.out_of_sample_metrics,
        }
        for w in report.windows
    ]
