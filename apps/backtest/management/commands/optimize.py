from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.backtest.models import OptimizationRun
from apps.backtest.optimisation.optimizer import RISK_KEYS, OptimizerError, backtestable_kinds
from apps.backtest.optimisation.runs import (
    OptimizationWaitTimeout,
    TrialProgress,
    optimization_run_create,
    optimization_run_execute,
)
from apps.exchange.domain.fees import DEFAULT_MAKER_FEE, DEFAULT_TAKER_FEE
from apps.exchange.domain.types import datetime_to_ms


def _ms(value: str, option: str) -> int:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{option}: not an ISO date: {value!r}") from exc
    return datetime_to_ms(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _broker_reaches_other_processes() -> bool:
    from tradingplatform.celery import app

    return bool(app.conf.task_always_eager) or not str(app.conf.broker_url or "").startswith(
        "memory://"
    )


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def _means_by_file(run: OptimizationRun) -> dict[str, dict[str, float]]:
    """Each file's in-sample and out-of-sample objective of the winners, mean over windows."""
    files = run.windows[0].get("in_sample_by_file", {}) if run.windows else {}
    return {
        file: {
            part: sum(w[f"{part}_by_file"][file] for w in run.windows) / len(run.windows)
            for part in ("in_sample", "out_of_sample")
        }
        for file in files
    }


class Command(BaseCommand):
    help = (
        "Optimise a strategy's (and risk) parameters walk-forward: search each training window "
        "(TPE or grid), score every trial on the next test window, print the winner's in-sample "
        "and out-of-sample figures side by side. Several data files (one symbol each): each "
        "trial's objective is the mean of the files' objectives. Runs and trials are recorded in "
        "the database (admin: Optimization runs); --distributed spreads trials over Celery "
        "workers, --resume continues a run whose coordinator stopped. Searchable risk keys: "
        + ", ".join(RISK_KEYS)
        + "."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--strategy",
            default="ema_cross",
            choices=backtestable_kinds(),
            help="strategy kind, any backtestable registered one (default ema_cross)",
        )
        parser.add_argument(
            "--data",
            nargs="+",
            default=[],
            metavar="FILE",
            help="kline files, one symbol each, of one interval: every trial is backtested on "
            "each and scored by the mean of their objectives; the files are cut to the candles "
            "they all hold, which must have the same open times",
        )
        parser.add_argument("--start", default="", help="ISO date: first candle used")
        parser.add_argument("--end", default="", help="ISO date: candles before it are used")
        parser.add_argument(
            "--space",
            default=None,
            help="search space as JSON: name -> [values] or {low, high}, within the bounds of "
            "the strategy's parameters (names: its parameters and the risk keys "
            + ", ".join(RISK_KEYS)
            + "); default: half to twice each parameter's default (ema_cross: fast 5-30, "
            "slow 20-120, sl 0.005-0.05, tp 0.01-0.1)",
        )
        parser.add_argument("--method", default="tpe", choices=["tpe", "grid"])
        parser.add_argument("--trials", type=int, default=50, help="trials per window")
        parser.add_argument(
            "--batch",
            type=int,
            default=8,
            help="TPE trials asked per round; results depend on it (not on the workers)",
        )
        parser.add_argument("--objective", default="sharpe")
        parser.add_argument("--train", type=int, default=24 * 180, help="training candles")
        parser.add_argument("--test", type=int, default=24 * 60, help="test candles")
        parser.add_argument("--step", type=int, default=None, help="window step (default --test)")
        parser.add_argument("--warmup", type=int, default=300, help="warm-up candles per part")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--fee",
            type=float,
            default=DEFAULT_TAKER_FEE,
            help=f"taker fee per side (default {DEFAULT_TAKER_FEE}; take-profits pay the "
            f"platform's maker fee, {DEFAULT_MAKER_FEE})",
        )
        parser.add_argument("--stake", type=float, default=1000.0)
        parser.add_argument("--cash", type=float, default=10000.0)
        parser.add_argument("--json", dest="json_out", default="")
        parser.add_argument(
            "--distributed",
            action="store_true",
            help="dispatch the trials to Celery workers (needs a broker server) instead of "
            "evaluating them in this process",
        )
        parser.add_argument(
            "--parallel", type=int, default=4, help="worker tasks sent per round (--distributed)"
        )
        parser.add_argument(
            "--resume",
            type=int,
            default=None,
            metavar="RUN_ID",
            help="continue a stopped run: complete trials are kept, the rest are evaluated",
        )
        parser.add_argument(
            "--stale-after",
            type=float,
            default=300.0,
            help="seconds after which a running trial counts as lost and is evaluated again",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["distributed"] and not _broker_reaches_other_processes():
            raise CommandError(
                "--distributed needs a broker server (REDIS_URL or CELERY_BROKER_URL) and "
                "`celery -A tradingplatform worker` processes; memory:// reaches none"
            )
        if options["parallel"] < 1:
            raise CommandError(f"--parallel must be at least 1, got {options['parallel']}")
        if options["resume"] is not None:
            run = self._resumable(options["resume"])
        else:
            run = self._create(options)
        self.stderr.write(f"optimisation run {run.pk}: {self._describe(run)}")
        self.stderr.write(f"space: {json.dumps(run.space, sort_keys=True)}")
        tty = sys.stderr.isatty()

        def progress(p: TrialProgress) -> None:
            line = (
                f"trial {p.done}/{p.total}  window {p.window + 1}/{p.windows} #{p.number}  "
                f"{run.objective} {p.value:.3f}  best so far {p.best:.3f}"
            )
            sys.stderr.write(f"\r{line}\033[K" if tty else f"{line}\n")
            sys.stderr.flush()

        dispatch, linger = None, 0.0
        if options["distributed"]:
            from apps.backtest.tasks import OPTIMIZE_TASK_LINGER_S, optimize_trials
            from tradingplatform.celery import app

            linger = 0.0 if app.conf.task_always_eager else OPTIMIZE_TASK_LINGER_S

            def dispatch(run_id: int) -> None:
                optimize_trials.delay(run_id)

        try:
            run = optimization_run_execute(
                run.pk,
                dispatch=dispatch,
                parallel=options["parallel"],
                progress=progress,
                stale_after_s=options["stale_after"],
                linger_s=linger,
            )
        except OptimizationWaitTimeout as exc:
            raise CommandError(str(exc)) from exc
        except OptimizerError as exc:
            raise CommandError(f"run {run.pk} failed: {exc}") from exc
        except KeyboardInterrupt:
            sys.stderr.write(f"\ninterrupted: resume with `manage.py optimize --resume {run.pk}`\n")
            raise
        if tty:
            sys.stderr.write("\n")
        self._print(run)
        if options["json_out"]:
            Path(options["json_out"]).write_text(
                json.dumps(
                    {
                        "run": run.pk,
                        "strategy": run.strategy,
                        "data_files": run.data_files,
                        "space": run.space,
                        "objective": run.objective,
                        "method": run.sampler,
                        "seed": run.seed,
                        "trials": run.n_trials,
                        "batch": run.batch_size,
                        "windows": run.windows,
                        "best_params": run.best_params,
                        "mean_in_sample": run.mean_in_sample,
                        "mean_out_of_sample": run.mean_out_of_sample,
                        "mean_by_file": _means_by_file(run),
                    },
                    indent=2,
                    default=str,
                )
            )

    def _resumable(self, run_id: int) -> OptimizationRun:
        run = OptimizationRun.objects.filter(pk=run_id).first()
        if run is None:
            raise CommandError(f"--resume: no optimisation run with id {run_id}")
        if run.status == OptimizationRun.Status.DONE:
            raise CommandError(f"--resume: optimisation run {run_id} is already done")
        return run

    def _create(self, options: dict[str, Any]) -> OptimizationRun:
        data = options["data"]
        files = [data] if isinstance(data, str | Path) else list(data)
        if not files:
            raise CommandError("--data FILE [FILE ...] is required (or --resume RUN_ID)")
        space = None
        if options["space"] is not None:
            try:
                space = json.loads(options["space"])
            except json.JSONDecodeError as exc:
                raise CommandError(f"--space is not JSON: {exc}") from exc
        try:
            return optimization_run_create(
                data_files=[str(f) for f in files],
                space=space,
                objective=options["objective"],
                sampler=options["method"],
                trials=options["trials"],
                batch=options["batch"],
                seed=options["seed"],
                train=options["train"],
                test=options["test"],
                step=options["step"],
                warmup=options["warmup"],
                start_ms=_ms(options["start"], "--start") if options["start"] else None,
                end_ms=_ms(options["end"], "--end") if options["end"] else None,
                fee=options["fee"],
                stake=options["stake"],
                cash=options["cash"],
                distributed=options["distributed"],
                strategy=options["strategy"],
            )
        except OptimizerError as exc:
            raise CommandError(str(exc)) from exc

    @staticmethod
    def _describe(run: OptimizationRun) -> str:
        done = run.trials.filter(state="complete").count()
        span = run.data_fingerprint.get(run.data_files[0], {})
        dates = (
            " " + "..".join(_day(span[k]) for k in ("first_open_time", "last_open_time"))
            if "first_open_time" in span
            else ""
        )
        return (
            f"{run.strategy}, {run.sampler} seed {run.seed}, {run.n_trials} trials per window "
            f"(batch {run.batch_size}), {run.objective}, {', '.join(run.symbols)} "
            f"{run.interval}{dates}" + (f"; {done} trials already complete" if done else "")
        )

    def _print(self, run: OptimizationRun) -> None:
        name = run.objective
        several = len(run.data_files) > 1
        self.stdout.write(
            f"{'window':>6}  {'train':<22}  {'test':<22}  {'in-sample':>10}  "
            f"{'out-of-sample':>13}  best params ({name}"
            + (f": the mean of {len(run.data_files)} files, each below)" if several else ")")
        )
        for row in run.windows:
            self.stdout.write(
                f"{row['window'] + 1:>6}  {row['train']:<22}  {row['test']:<22}  "
                f"{row['in_sample']:>10.3f}  {row['out_of_sample']:>13.3f}  "
                f"{json.dumps(row['best_params'], sort_keys=True)}"
            )
            if several:
                for file, value in row["in_sample_by_file"].items():
                    self.stdout.write(
                        f"{'':>6}  {file:<46}  {value:>10.3f}  "
                        f"{row['out_of_sample_by_file'][file]:>13.3f}"
                    )
        self.stdout.write(
            f"mean {name}: in-sample {run.mean_in_sample:.3f}, out-of-sample "
            f"{run.mean_out_of_sample:.3f} over {len(run.windows)} windows (run {run.pk})"
        )
        if several:
            for file, means in _means_by_file(run).items():
                self.stdout.write(
                    f"  {file}: in-sample {means['in_sample']:.3f}, out-of-sample "
                    f"{means['out_of_sample']:.3f}"
                )
