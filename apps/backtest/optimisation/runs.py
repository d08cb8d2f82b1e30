"""Optimisation runs in the database: a coordinator asks, whoever claims a trial evaluates it.

- ``optimization_run_create`` checks every setting and the data, then stores the run (strategy
  kind, space, every data file with the fingerprint of the candles used); bad input raises
  ``OptimizerError`` with one line and stores nothing. Several files are cut to the candles they
  all hold (``align_series``): a window covers the same dates in each.
- ``optimization_run_execute`` is the coordinator (``manage.py optimize``). It builds one seeded
  ``SearchPlanner`` per walk-forward window, asks a round of trials of every window, writes them
  as pending ``OptimizationTrial`` rows, has them evaluated (in this process, or by Celery tasks
  through ``dispatch``), waits until the round is complete, tells the stored values to each
  planner in trial-number order, and asks the next round. A trial row that already exists (a
  resumed run) is not evaluated again: its stored value is told, so the seeded planner asks
  exactly what it asked before, and the result equals an uninterrupted run's.
- ``optimization_trials_work`` is what a worker task does: claim pending trials of a run
  (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, a conditional ``UPDATE`` elsewhere),
  evaluate each on its window's training part (the objective) and test part (out-of-sample) of
  every file, write the results (the mean objective, and each file's under ``files`` in the
  metrics), claim again until none is left.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.backtest.models import OptimizationRun, OptimizationTrial
from apps.backtest.optimisation.optimizer import (
    OptimizerError,
    ParameterOptimizer,
    SearchPlanner,
    align_series,
    window_dates,
)
from apps.backtest.research.domain.walkforward import Window, walk_forward_windows
from apps.exchange.domain.fees import DEFAULT_FEES
from apps.market.data import Klines, MarketDataError, load_klines

logger = logging.getLogger(__name__)

Dispatch = Callable[[int], None]
State = OptimizationTrial.State


class OptimizationWaitTimeout(OptimizerError):
    """The coordinator stopped waiting; the run stays resumable."""


@dataclass(frozen=True, slots=True)
class TrialProgress:
    """One completed trial as the coordinator saw it, with the count and the window's best."""

    done: int
    total: int
    window: int
    windows: int
    number: int
    value: float
    best: float
    worker: str


# --- building a run's search from its row (coordinator and workers alike) --------------------


@dataclass(frozen=True, slots=True)
class RunContext:
    optimizer: ParameterOptimizer
    series: list[Klines]  # one per data file, aligned: the same open times
    windows: list[Window]
    # per window: (training parts, test parts), one per file, each with its warm-up
    parts: list[tuple[list[Klines], list[Klines]]]


_contexts: OrderedDict[int, RunContext] = OrderedDict()
_contexts_lock = threading.Lock()


_files: OrderedDict[tuple[str, int, int], Klines] = OrderedDict()


def _load_file(path: str) -> Klines:
    """``load_klines``, cached per process by path, size and modification time."""
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise OptimizerError(f"{path}: {exc.strerror or exc}") from exc
    key = (path, stat.st_size, stat.st_mtime_ns)
    with _contexts_lock:
        if key in _files:
            return _files[key]
    klines = load_klines(path)  # MarketDataError names file and line
    with _contexts_lock:
        _files[key] = klines
        while len(_files) > 8:  # the runs' parts are views: this holds little more
            _files.popitem(last=False)
    return klines


def _load_series(path: str, start_ms: int | None, end_ms: int | None) -> Klines:
    klines = _load_file(path)
    first = 0 if start_ms is None else int(np.searchsorted(klines.open_time, start_ms))
    last = len(klines) if end_ms is None else int(np.searchsorted(klines.open_time, end_ms))
    klines = klines.slice(first, last)
    if len(klines) == 0:
        raise OptimizerError(f"{path}: no candles in the selected dates")
    return klines


def _load_files(paths: list[str], start_ms: int | None, end_ms: int | None) -> list[Klines]:
    """Each file's candles in [start_ms, end_ms), aligned (``align_series``)."""
    try:
        return align_series([_load_series(path, start_ms, end_ms) for path in paths])
    except MarketDataError as exc:
        raise OptimizerError(str(exc)) from exc


def _fingerprint(klines: Klines) -> dict[str, Any]:
    return {
        "candles": len(klines),
        "first_open_time": int(klines.open_time[0]),
        "last_open_time": int(klines.open_time[-1]),
        "first_close": float(klines.close[0]),
        "last_close": float(klines.close[-1]),
    }


def run_optimizer(run: OptimizationRun) -> ParameterOptimizer:
    """The optimiser a run was configured with (its coordinator, and the cockpit's estimate)."""
    return ParameterOptimizer(
        space=run.space,
        objective=run.objective,
        method=run.sampler,
        trials=run.n_trials,
        seed=run.seed,
        fee=float(run.fee),
        stake=float(run.stake),
        cash=float(run.cash),
        batch=run.batch_size,
        strategy=run.strategy,
    )


def _fingerprints(paths: list[str], series: list[Klines]) -> dict[str, Any]:
    """``{path: fingerprint of the candles used}``, what workers and resumes check."""
    return {path: _fingerprint(k) for path, k in zip(paths, series, strict=True)}


def _windows(n: int, *, train: int, test: int, step: int | None, warmup: int) -> list[Window]:
    try:
        return walk_forward_windows(n, train=train, test=test, step=step, warmup=warmup)
    except ValueError as exc:
        raise OptimizerError(str(exc)) from exc


def run_context(run: OptimizationRun) -> RunContext:
    """The optimizer, candles and windows of ``run`` (cached per process: runs are immutable).

    Raise OptimizerError when a file's candles differ from their fingerprint in the run.
    """
    with _contexts_lock:
        if run.pk in _contexts:
            _contexts.move_to_end(run.pk)
            return _contexts[run.pk]
    series = _load_files(run.data_files, run.start_ms, run.end_ms)
    stored, now = run.data_fingerprint, _fingerprints(run.data_files, series)
    if stored and now != stored:
        changed = [p for p in run.data_files if now[p] != stored.get(p)]
        raise OptimizerError(
            f"{changed[0]}: the data differ from when run {run.pk} was created "
            f"({now[changed[0]]} != {stored.get(changed[0])}); start a new run"
            if changed
            else f"the data differ from when run {run.pk} was created (fingerprints of "
            f"{', '.join(sorted(stored))} stored for {', '.join(run.data_files)}); start a new run"
        )
    optimizer = run_optimizer(run)
    warmup = run.warmup_candles
    windows = _windows(
        len(series[0]),
        train=run.train_candles,
        test=run.test_candles,
        step=run.step_candles,
        warmup=warmup,
    )
    parts = [
        (
            [k.slice(w.train_start - warmup, w.train_end) for k in series],
            [k.slice(w.test_start - warmup, w.test_end) for k in series],
        )
        for w in windows
    ]
    context = RunContext(optimizer, series, windows, parts)
    with _contexts_lock:
        _contexts[run.pk] = context
        while len(_contexts) > 4:
            _contexts.popitem(last=False)
    return context


# --- create -------------------------------------------------------------------------------------


def _decimal(name: str, value: Any) -> Decimal:
    try:
        number = Decimal(str(value))
    except ArithmeticError as exc:
        raise OptimizerError(f"{name} must be a number, got {value!r}") from exc
    if not number.is_finite():
        raise OptimizerError(f"{name} must be a finite number, got {value!r}")
    return number


def optimization_run_create(
    *,
    data_files: Sequence[str] = (),
    data_file: str | None = None,
    space: Mapping[str, Any] | None = None,
    objective: str = "sharpe",
    sampler: str = "tpe",
    trials: int = 50,
    batch: int = 8,
    seed: int = 0,
    train: int,
    test: int,
    step: int | None = None,
    warmup: int = 0,
    start_ms: int | None = None,
    end_ms: int | None = None,
    fee: Decimal | float | str = DEFAULT_FEES.taker,
    stake: Decimal | float | str = Decimal("1000"),
    cash: Decimal | float | str = Decimal("10000"),
    distributed: bool = False,
    strategy: str = "ema_cross",
) -> OptimizationRun:
    """Check everything, then store a queued run. Raise OptimizerError (nothing stored).

    ``data_files``: kline files, one symbol each (``data_file``: one file); ``space`` None:
    ``default_space(strategy)``.
    """
    from apps.backtest.services import code_version

    if isinstance(data_files, str):
        data_files = [data_files]
    names = [data_file] if data_file is not None and not data_files else list(data_files)
    if not names or (data_file is not None and data_files):
        raise OptimizerError("give the data files (data_files) or one data file (data_file)")
    fee_d, stake_d, cash_d = _decimal("fee", fee), _decimal("stake", stake), _decimal("cash", cash)
    optimizer = ParameterOptimizer(
        space=space,
        objective=objective,
        method=sampler,
        trials=trials,
        seed=seed,
        fee=float(fee_d),
        stake=float(stake_d),
        cash=float(cash_d),
        batch=batch,
        strategy=strategy,
    )
    if warmup < 0:
        raise OptimizerError(f"warmup must not be negative, got {warmup}")
    if step is not None and step < 1:
        raise OptimizerError(f"step must be positive, got {step}")
    paths = [str(Path(name).expanduser().resolve()) for name in names]
    twice = sorted({p for p in paths if paths.count(p) > 1})
    if twice:
        raise OptimizerError(f"{twice[0]} is given twice")
    series = _load_files(paths, start_ms, end_ms)
    first = _windows(len(series[0]), train=train, test=test, step=step, warmup=warmup)[0]
    optimizer.check_data([k.slice(first.train_start - warmup, first.train_end) for k in series])
    return OptimizationRun.objects.create(
        strategy=strategy,
        space=optimizer.space,
        objective=objective,
        sampler=sampler,
        seed=seed,
        n_trials=trials,
        batch_size=batch,
        data_files=paths,
        symbols=[k.symbol for k in series],
        interval=series[0].interval,
        start_ms=start_ms,
        end_ms=end_ms,
        data_fingerprint=_fingerprints(paths, series),
        train_candles=train,
        test_candles=test,
        step_candles=step or test,
        warmup_candles=warmup,
        fee=fee_d,
        stake=stake_d,
        cash=cash_d,
        distributed=distributed,
        code_version=code_version(),
    )


# --- workers: claim, evaluate, write -------------------------------------------------------------


def default_worker_name() -> str:
    return f"in-process@{socket.gethostname()}:{os.getpid()}"


def _claim(run_id: int, worker: str, limit: int) -> list[OptimizationTrial]:
    """Mark up to ``limit`` pending trials of the run as running by ``worker``; return them."""
    pending = OptimizationTrial.objects.filter(run_id=run_id, state=State.PENDING).order_by(
        "window", "number"
    )
    claim = {
        "state": State.RUNNING,
        "worker": worker[:255],
        "started_at": timezone.now(),
        "attempts": F("attempts") + 1,
    }
    if connection.features.has_select_for_update_skip_locked:
        # Rows another worker is claiming right now are skipped, not waited for.
        with transaction.atomic():
            ids = list(
                pending.select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit]
            )
            if ids:
                OptimizationTrial.objects.filter(pk__in=ids).update(**claim)
    else:
        # SQLite: no row locks; a conditional UPDATE takes each row at most once.
        ids = []
        while len(ids) < limit:
            candidates = list(pending.exclude(pk__in=ids).values_list("pk", flat=True)[:limit])
            if not candidates:
                break
            for pk in candidates:
                taken = OptimizationTrial.objects.filter(pk=pk, state=State.PENDING).update(**claim)
                if taken:
                    ids.append(pk)
                    if len(ids) == limit:
                        break
    return list(OptimizationTrial.objects.filter(pk__in=ids).order_by("window", "number"))


_RESULT_FIELDS = [
    "state",
    "value",
    "in_sample_metrics",
    "out_of_sample_value",
    "out_of_sample_metrics",
    "error",
    "finished_at",
]


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:1000]


def optimization_trials_work(
    *,
    run_id: int,
    worker: str,
    claim: int = 4,
    budget_s: float | None = None,
    linger_s: float = 0.0,
    on_trial: Callable[[OptimizationTrial], None] | None = None,
) -> tuple[int, bool]:
    """Claim and evaluate pending trials of a run until none is left (or ``budget_s`` is spent).

    With ``linger_s``, wait that long for the coordinator's next trials before giving up (it
    asks a window's next round as soon as that window's round is complete). Return (trials
    evaluated, whether pending trials may remain because the budget ran out). A trial that
    raises is written as failed with the error in one line.
    """
    started = idle_since = time.monotonic()
    context: RunContext | None = None
    done = 0
    while True:
        if budget_s is not None and time.monotonic() - started > budget_s:
            return done, True
        trials = _claim(run_id, worker, claim)
        if not trials:
            if time.monotonic() - idle_since >= linger_s:
                return done, False
            time.sleep(0.02)
            continue
        try:
            if context is None:
                context = run_context(OptimizationRun.objects.get(pk=run_id))
        except Exception as exc:  # the data cannot be read here: say so on the trials
            error = _one_line(exc)
            OptimizationTrial.objects.filter(pk__in=[t.pk for t in trials]).update(
                state=State.FAILED, error=error, finished_at=timezone.now()
            )
            logger.warning("optimisation run %s: %s", run_id, error)
            return done, False
        for trial in trials:
            try:
                train, test = context.parts[trial.window]
                in_sample = context.optimizer.evaluate(trial.params, train)
                out_of_sample = context.optimizer.evaluate(trial.params, test)
            except Exception as exc:
                trial.state, trial.error = State.FAILED, _one_line(exc)
            else:
                trial.state, trial.error = State.COMPLETE, ""
                trial.value, trial.out_of_sample_value = in_sample.value, out_of_sample.value
                trial.in_sample_metrics = in_sample.plain()
                trial.out_of_sample_metrics = out_of_sample.plain()
            trial.finished_at = timezone.now()
        OptimizationTrial.objects.bulk_update(trials, _RESULT_FIELDS)
        done += len(trials)
        idle_since = time.monotonic()
        if on_trial:
            for trial in trials:
                on_trial(trial)


# --- the coordinator -----------------------------------------------------------------------------


class _Progress:
    def __init__(
        self,
        run: OptimizationRun,
        total: int,
        windows: int,
        callback: Callable[[TrialProgress], None] | None,
    ) -> None:
        self.total, self.windows, self.callback = total, windows, callback
        complete = run.trials.filter(state=State.COMPLETE).values_list("pk", "window", "value")
        self.seen = {pk for pk, _, _ in complete}
        self.best: dict[int, float] = {}
        for _, window, value in complete:
            self.best[window] = max(self.best.get(window, value), value)

    def trial(self, trial: OptimizationTrial) -> None:
        if trial.state != State.COMPLETE or trial.pk in self.seen:
            return
        self.seen.add(trial.pk)
        value = float(trial.value)
        best = self.best[trial.window] = max(self.best.get(trial.window, value), value)
        if self.callback:
            self.callback(
                TrialProgress(
                    done=len(self.seen),
                    total=self.total,
                    window=trial.window,
                    windows=self.windows,
                    number=trial.number,
                    value=value,
                    best=best,
                    worker=trial.worker,
                )
            )


def _ensure_trials(
    run: OptimizationRun, asked: Mapping[int, list[tuple[int, dict[str, Any]]]]
) -> dict[tuple[int, int], int]:
    """Write the asked trials as pending rows unless they exist; return {(window, number): id}.

    An existing row must hold the parameters the seeded planner asks now; otherwise the data or
    the code changed since the run started, and mixing the two would not be reproducible.
    """
    numbers = [n for round_ in asked.values() for n, _ in round_]
    rows = run.trials.filter(
        window__in=list(asked), number__gte=min(numbers), number__lte=max(numbers)
    )
    existing = {(t.window, t.number): t for t in rows.only("pk", "window", "number", "params")}
    new = []
    for window, round_ in asked.items():
        for number, params in round_:
            row = existing.get((window, number))
            if row is None:
                new.append(OptimizationTrial(run=run, window=window, number=number, params=params))
            elif row.params != params:
                raise OptimizerError(
                    f"run {run.pk}: stored trial {number} of window {window} has {row.params} but "
                    f"the seeded search asks {params} (data or code changed); start a new run"
                )
    if new:
        OptimizationTrial.objects.bulk_create(new, ignore_conflicts=True)
    ids = {(w, n): pk for pk, w, n in rows.values_list("pk", "window", "number")}
    return {(w, n): ids[(w, n)] for w, round_ in asked.items() for n, _ in round_}


def _finish_order(trial: OptimizationTrial) -> tuple[float, int, int]:
    finished = trial.finished_at.timestamp() if trial.finished_at else float("inf")
    return finished, trial.window, trial.number


@dataclass
class _Window:
    """The coordinator's view of one window: its planner and its open round."""

    planner: SearchPlanner
    open: dict[int, int]  # number -> trial id: the round being evaluated
    values: dict[int, float]  # number -> value: the trials of the open round complete so far


def optimization_run_execute(
    run_id: int,
    *,
    dispatch: Dispatch | None = None,
    parallel: int = 4,
    progress: Callable[[TrialProgress], None] | None = None,
    poll_s: float = 0.2,
    stale_after_s: float = 300.0,
    redispatch_after_s: float = 30.0,
    linger_s: float = 1.0,
    timeout_s: float | None = None,
) -> OptimizationRun:
    """Run (or resume) a run to the end; return it done. See the module docstring.

    Each window moves on its own: as soon as all trials of its round are complete, their values
    are told in trial-number order and its next round is asked, while other windows' trials are
    still being evaluated (so workers never wait for the slowest window). ``dispatch(run_id)``
    sends one worker task, which claims trials until none is left for ``linger_s``; workers are
    topped up to ``parallel`` whenever new trials are written. Without ``dispatch`` this process
    evaluates the trials. Trials running longer than ``stale_after_s`` (their worker died) go
    back to pending; pending trials waiting ``redispatch_after_s`` with nothing running are
    dispatched again (a lost task). Raise OptimizerError (the run is marked failed) when a trial
    fails or the data changed; ``OptimizationWaitTimeout`` after ``timeout_s`` (the run stays
    resumable).
    """
    try:
        run = OptimizationRun.objects.get(pk=run_id)
    except OptimizationRun.DoesNotExist as exc:
        raise OptimizerError(f"no optimisation run with id {run_id}") from exc
    if run.status == OptimizationRun.Status.DONE:
        raise OptimizerError(f"optimisation run {run_id} is already done")
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        context = run_context(run)
        run.trials.filter(state=State.FAILED).update(state=State.PENDING, error="")
        OptimizationRun.objects.filter(pk=run.pk).update(
            status=OptimizationRun.Status.RUNNING, error=""
        )
        windows = [_Window(context.optimizer.planner(), {}, {}) for _ in context.windows]
        reporter = _Progress(run, sum(w.planner.total for w in windows), len(windows), progress)
        _coordinate(
            run,
            windows,
            reporter=reporter,
            dispatch=dispatch,
            parallel=parallel,
            poll_s=poll_s,
            stale_after_s=stale_after_s,
            redispatch_after_s=redispatch_after_s,
            linger_s=linger_s,
            deadline=deadline,
        )
        return _finish(run, context)
    except OptimizationWaitTimeout:
        raise
    except OptimizerError as exc:
        OptimizationRun.objects.filter(pk=run.pk).update(
            status=OptimizationRun.Status.FAILED, error=str(exc), finished_at=timezone.now()
        )
        raise


def _coordinate(
    run: OptimizationRun,
    windows: list[_Window],
    *,
    reporter: _Progress,
    dispatch: Dispatch | None,
    parallel: int,
    poll_s: float,
    stale_after_s: float,
    redispatch_after_s: float,
    linger_s: float,
    deadline: float | None,
) -> None:
    trials = OptimizationTrial.objects.filter(run=run)
    in_process = default_worker_name()
    last_dispatch = 0.0

    def ask(ready: list[int]) -> None:
        """Tell the complete rounds of ``ready`` windows (number order) and ask their next."""
        asked = {}
        for index in ready:
            window = windows[index]
            if window.open:
                window.planner.tell_round(window.values)
                window.open, window.values = {}, {}
            if not window.planner.done:
                asked[index] = window.planner.next_round()
        if asked:
            ids = _ensure_trials(run, asked)
            for index, round_ in asked.items():
                windows[index].open = {n: ids[(index, n)] for n, _ in round_}

    def evaluate(force: bool = False) -> None:
        """Have pending trials evaluated: here, or by topping workers up to ``parallel``."""
        nonlocal last_dispatch
        if dispatch is None:
            optimization_trials_work(
                run_id=run.pk, worker=in_process, claim=8, on_trial=reporter.trial
            )
            return
        if not force and time.monotonic() - last_dispatch < linger_s:
            return  # tasks sent a moment ago may not have claimed anything yet
        pending = trials.filter(state=State.PENDING).count()
        active = 0
        if not force:  # workers that claimed lately are still claiming (or lingering)
            recent = timezone.now() - timedelta(seconds=linger_s)
            active = trials.filter(started_at__gte=recent).values("worker").distinct().count()
        missing = min(parallel, pending) - active
        for _ in range(max(0, missing)):
            dispatch(run.pk)
        if missing > 0:
            last_dispatch = time.monotonic()

    ask(list(range(len(windows))))
    evaluate(force=True)
    last_change = time.monotonic()
    while any(w.open for w in windows):
        open_ids = [pk for w in windows for n, pk in w.open.items() if n not in w.values]
        done = trials.filter(pk__in=open_ids, state__in=[State.COMPLETE, State.FAILED])
        fields = ("pk", "window", "number", "state", "value", "error", "worker", "finished_at")
        ready, now = set(), time.monotonic()
        for trial in sorted(done.only(*fields), key=_finish_order):
            if trial.state == State.FAILED:
                raise OptimizerError(
                    f"trial {trial.number} of window {trial.window} failed on "
                    f"{trial.worker or 'a worker'}: {trial.error}"
                )
            window = windows[trial.window]
            window.values[trial.number] = float(trial.value)
            reporter.trial(trial)
            last_change = now
            if len(window.values) == len(window.open):
                ready.add(trial.window)
        if ready:
            ask(sorted(ready))
            evaluate()
            continue
        stale = trials.filter(
            pk__in=open_ids,
            state=State.RUNNING,
            started_at__lt=timezone.now() - timedelta(seconds=stale_after_s),
        ).update(state=State.PENDING, worker="")
        if stale:
            logger.warning("run %s: %d stale trial(s) back to pending", run.pk, stale)
        idle = now - last_change > redispatch_after_s
        nothing_running = not trials.filter(state=State.RUNNING).exists()
        if stale or (idle and nothing_running):
            evaluate(force=True)
            last_change = now
        else:
            evaluate()  # tops workers up if they went quiet while trials wait
        if deadline is not None and now > deadline:
            raise OptimizationWaitTimeout(
                f"run {run.pk}: {len(open_ids)} trial(s) still open after the wait limit; "
                f"resume with `manage.py optimize --resume {run.pk}`"
            )
        # Poll soon after a change (a round may be about to end), less often when idle.
        time.sleep(min(poll_s, 0.01 + (now - last_change) / 10))


def _by_file(metrics: Mapping[str, Any]) -> dict[str, float]:
    return {name: m["objective"] for name, m in metrics.get("files", {}).items()}


def _finish(run: OptimizationRun, context: RunContext) -> OptimizationRun:
    rows = []
    open_time = context.series[0].open_time
    for index, window in enumerate(context.windows):
        best = (
            run.trials.filter(window=index, state=State.COMPLETE)
            .order_by("-value", "number")  # the first best on ties, as an in-memory search
            .first()
        )
        assert best is not None  # every trial of every window is complete here
        train, test = window_dates(window, open_time)
        rows.append(
            {
                "window": index,
                "train": train,
                "test": test,
                "best_trial": best.number,
                "best_params": best.params,
                "in_sample": best.value,
                "out_of_sample": best.out_of_sample_value,
                "in_sample_metrics": best.in_sample_metrics,
                "out_of_sample_metrics": best.out_of_sample_metrics,
                "in_sample_by_file": _by_file(best.in_sample_metrics),
                "out_of_sample_by_file": _by_file(best.out_of_sample_metrics),
            }
        )
    run.windows = rows
    run.best_params = rows[-1]["best_params"]
    run.mean_in_sample = sum(r["in_sample"] for r in rows) / len(rows)
    run.mean_out_of_sample = sum(r["out_of_sample"] for r in rows) / len(rows)
    run.status, run.error, run.finished_at = OptimizationRun.Status.DONE, "", timezone.now()
    run.save(
        update_fields=[
            "windows",
            "best_params",
            "mean_in_sample",
            "mean_out_of_sample",
            "status",
            "error",
            "finished_at",
        ]
    )
    return run
