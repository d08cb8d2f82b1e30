"""Optimisation runs in the database: trials claimed by workers, reproducible, resumable, for
every kind and several data files."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from io import StringIO
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.apps import apps as django_apps
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from apps.backtest.models import OptimizationRun, OptimizationTrial
from apps.backtest.optimisation.optimizer import OptimizerError, ParameterOptimizer, default_space
from apps.backtest.optimisation.runs import (
    _claim,
    _load_series,
    optimization_run_create,
    optimization_run_execute,
)
from apps.backtest.research.domain.walkforward import walk_forward_windows

REPO = Path(__file__).resolve().parents[2]
START, END = 1704067200000, 1711929600000  # 2024-01-01 .. 2024-04-01 (2,184 hourly candles)
SPACE = {
    "fast": {"low": 5, "high": 30},
    "slow": {"low": 20, "high": 120},
    "sl": {"low": 0.005, "high": 0.05},
    "leverage": [1, 2, 3],
}
SETTINGS = {"train": 720, "test": 240, "warmup": 100, "trials": 6, "batch": 3, "seed": 7}


@pytest.fixture
def eth_file(shared_data) -> str:
    return str(shared_data / "futures" / "ETHUSDT-1h.csv.gz")


def _run(eth_file: str, **changes) -> OptimizationRun:
    settings = {**SETTINGS, **changes}
    return optimization_run_create(
        data_file=eth_file, space=SPACE, start_ms=START, end_ms=END, **settings
    )


def _results(run: OptimizationRun) -> list[tuple]:
    run.refresh_from_db()
    assert run.status == OptimizationRun.Status.DONE, run.error
    return [(w["best_params"], w["in_sample"], w["out_of_sample"]) for w in run.windows]


def _command(*args: str, **options) -> str:
    out = StringIO()
    call_command("optimize", *args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


@pytest.mark.django_db
def test_run_in_process_is_recorded_and_equals_the_in_memory_walk_forward(eth_file) -> None:
    run = optimization_run_execute(_run(eth_file).pk)
    candles = _load_series(eth_file, START, END)
    windows = walk_forward_windows(len(candles), train=720, test=240, warmup=100)
    assert len(run.windows) == len(windows) == 5
    assert run.trials.count() == 5 * 6
    assert set(run.trials.values_list("state", flat=True)) == {"complete"}
    memory = ParameterOptimizer(space=SPACE, trials=6, batch=3, seed=7).walk_forward(
        candles, train=720, test=240, warmup=100
    )
    assert _results(run) == [(w.best_params, w.in_sample, w.out_of_sample) for w in memory.windows]
    assert run.best_params == run.windows[-1]["best_params"]
    assert run.mean_in_sample > run.mean_out_of_sample  # over-fitting shows side by side
    trial = run.trials.get(window=0, number=run.windows[0]["best_trial"])
    assert trial.out_of_sample_value == run.windows[0]["out_of_sample"]
    assert {"sharpe", "max_drawdown"} <= set(trial.out_of_sample_metrics)
    assert trial.worker.startswith("in-process@") and trial.finished_at.tzinfo is not None


@pytest.mark.django_db
def test_distributed_run_on_eager_celery_equals_the_in_process_run(
    eth_file, monkeypatch, tmp_path
) -> None:
    from tradingplatform.celery import app

    data = ["--data", eth_file, "--start", "2024-01-01", "--end", "2024-04-01"]
    common = [*data, "--train", "720", "--test", "240", "--warmup", "100", "--trials", "6"]
    common += ["--batch", "3", "--seed", "7", "--space", json.dumps(SPACE)]
    local = _command(*common)
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    remote = _command(*common, "--distributed", "--parallel", "2")
    first, second = OptimizationRun.objects.order_by("pk")
    assert second.distributed and _results(first) == _results(second)
    assert local.replace(f"(run {first.pk})", "") == remote.replace(f"(run {second.pk})", "")
    workers = set(second.trials.values_list("worker", flat=True))
    assert workers and not any(w.startswith("in-process@") for w in workers)


@pytest.mark.django_db
def test_resumed_run_after_a_crash_equals_an_uninterrupted_run(eth_file) -> None:
    fresh = _run(eth_file)
    optimization_run_execute(fresh.pk)

    crashed = _run(eth_file)
    seen = []

    def crash_in_round_two(progress) -> None:
        seen.append(progress.done)
        if len(seen) == 20:  # round one is 5 windows x 3 trials
            raise KeyboardInterrupt  # the coordinator dies mid-run

    with pytest.raises(KeyboardInterrupt):
        optimization_run_execute(crashed.pk, progress=crash_in_round_two)
    crashed.refresh_from_db()
    assert crashed.status == "running"
    kept = dict(crashed.trials.filter(state="complete").values_list("pk", "finished_at").iterator())
    assert len(kept) >= 20
    # A worker died holding a trial: it stays "running", long past the stale limit.
    lost = crashed.trials.filter(state="pending").order_by("window", "number").first()
    OptimizationTrial.objects.filter(pk=lost.pk).update(
        state="running", worker="dead@host", started_at=timezone.now() - timedelta(hours=1)
    )

    out = _command("--resume", str(crashed.pk))
    assert _results(crashed) == _results(fresh)
    assert f"(run {crashed.pk})" in out
    after = dict(crashed.trials.filter(pk__in=kept).values_list("pk", "finished_at"))
    assert after == kept  # complete trials were not evaluated again
    lost.refresh_from_db()
    assert lost.state == "complete" and lost.attempts == 1 and lost.worker != "dead@host"
    with pytest.raises(CommandError, match=f"run {crashed.pk} is already done"):
        _command("--resume", str(crashed.pk))


@pytest.mark.django_db
def test_resume_with_changed_data_fails_in_one_line_and_marks_the_run_failed(eth_file) -> None:
    run = _run(eth_file)
    OptimizationRun.objects.filter(pk=run.pk).update(
        data_fingerprint={**run.data_fingerprint, "candles": 1}
    )
    with pytest.raises(OptimizerError, match="the data differ from when run"):
        optimization_run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and "start a new run" in run.error
    assert not run.trials.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("skip_locked", [True, False], ids=["postgres", "sqlite-fallback"])
def test_claims_never_hand_one_trial_to_two_workers(eth_file, monkeypatch, skip_locked) -> None:
    monkeypatch.setattr(connection.features, "has_select_for_update_skip_locked", skip_locked)
    run = _run(eth_file)
    OptimizationTrial.objects.bulk_create(
        OptimizationTrial(run=run, window=0, number=n, params={"fast": 5}) for n in range(10)
    )
    claims = {name: _claim(run.pk, name, 4) for name in ("a", "b", "c", "d")}
    numbers = {name: [t.number for t in got] for name, got in claims.items()}
    assert numbers == {"a": [0, 1, 2, 3], "b": [4, 5, 6, 7], "c": [8, 9], "d": []}
    assert all(t.worker == "b" and t.state == "running" for t in claims["b"])


@pytest.mark.django_db
def test_trial_that_raises_fails_the_run_with_the_error_in_one_line(eth_file, monkeypatch) -> None:
    run = _run(eth_file)

    def broken(self, params, candles):
        raise RuntimeError("kernel exploded\non two lines")

    monkeypatch.setattr(ParameterOptimizer, "evaluate", broken)
    with pytest.raises(CommandError, match="failed: trial 0 of window 0 failed on in-process@"):
        _command("--resume", str(run.pk))
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error.endswith("RuntimeError: kernel exploded on two lines")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--space", '{"fast": [5], "margin": [1]}'], "unknown parameter"),
        (["--space", '{"leverage": [0.5]}'], "leverage must be in"),
        (["--train", "99999"], "cannot hold one window"),
        (["--start", "2024-13-01"], "--start: not an ISO date"),
        (["--distributed"], "--distributed needs a broker server"),
        (["--resume", "424242"], "no optimisation run with id 424242"),
    ],
)
def test_optimize_with_bad_input_fails_in_one_line_and_stores_nothing(
    eth_file, args, message
) -> None:
    with pytest.raises(CommandError, match=message) as failure:
        _command("--data", eth_file, *args)
    assert "\n" not in str(failure.value)
    assert not OptimizationRun.objects.exists()


@pytest.mark.django_db
def test_admin_lists_runs_and_their_trials(admin_client_logged, eth_file) -> None:
    run = _run(eth_file, trials=2, batch=2)
    optimization_run_execute(run.pk)
    page = admin_client_logged.get(f"/admin/backtest/optimizationrun/{run.pk}/change/")
    assert page.status_code == 200
    assert b"out-of-sample" in page.content
    trials = admin_client_logged.get(
        f"/admin/backtest/optimizationtrial/?run__id__exact={run.pk}&state__exact=complete"
    )
    assert trials.status_code == 200 and b"10 optimization trials" in trials.content
    assert admin_client_logged.get("/admin/backtest/optimizationrun/").status_code == 200


# --- every registered kind, several data files -------------------------------------------------

TREND = {
    "fast": {"low": 5, "high": 30},
    "slow": {"low": 20, "high": 120},
    "breakout": [10, 20, 40],
    "leverage": [1, 2],
}
BOLLINGER = {
    "bb_period": {"low": 10, "high": 40},
    "bb_std": {"low": 1.5, "high": 3.0},
    "rsi_oversold": [25, 30, 35],
}


@pytest.fixture
def btc_file(shared_data) -> str:
    return str(shared_data / "futures" / "BTCUSDT-1h.csv.gz")


def _two(files: list[str], **changes) -> OptimizationRun:
    settings = {**SETTINGS, "strategy": "trend_swing", "space": TREND, **changes}
    return optimization_run_create(data_files=files, start_ms=START, end_ms=END, **settings)


@pytest.mark.django_db
def test_run_over_two_files_records_each_and_equals_the_in_memory_walk_forward(
    eth_file, btc_file
) -> None:
    run = optimization_run_execute(_two([eth_file, btc_file]).pk)
    assert run.strategy == "trend_swing" and run.symbols == ["ETHUSDT", "BTCUSDT"]
    assert run.data_files == [eth_file, btc_file]
    assert set(run.data_fingerprint) == {eth_file, btc_file}
    assert {f["candles"] for f in run.data_fingerprint.values()} == {2184}
    series = [_load_series(path, START, END) for path in (eth_file, btc_file)]
    memory = ParameterOptimizer(
        strategy="trend_swing", space=TREND, trials=6, batch=3, seed=7
    ).walk_forward(series, train=720, test=240, warmup=100)
    assert _results(run) == [(w.best_params, w.in_sample, w.out_of_sample) for w in memory.windows]
    for row, window in zip(run.windows, memory.windows, strict=True):
        assert row["in_sample_by_file"] == window.in_sample_by_file
        assert row["out_of_sample_by_file"] == window.out_of_sample_by_file
        assert row["out_of_sample"] == sum(row["out_of_sample_by_file"].values()) / 2
    trial = run.trials.get(window=0, number=run.windows[0]["best_trial"])
    assert set(trial.in_sample_metrics["files"]) == {"ETHUSDT-1h", "BTCUSDT-1h"}
    assert "sharpe" in trial.in_sample_metrics["files"]["BTCUSDT-1h"]


@pytest.mark.django_db
def test_distributed_run_of_a_signal_strategy_over_two_files_equals_the_in_process_run(
    eth_file, btc_file, monkeypatch
) -> None:
    from tradingplatform.celery import app

    data = ["--data", eth_file, btc_file, "--start", "2024-01-01", "--end", "2024-04-01"]
    common = [*data, "--train", "720", "--test", "240", "--warmup", "100", "--trials", "6"]
    common += ["--batch", "3", "--seed", "7", "--strategy", "bollinger_scalp"]
    local = _command(*common)
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    remote = _command(*common, "--distributed", "--parallel", "2")
    first, second = OptimizationRun.objects.order_by("pk")
    assert _results(first) == _results(second)
    assert local.replace(f"(run {first.pk})", "") == remote.replace(f"(run {second.pk})", "")
    assert first.strategy == "bollinger_scalp" and first.space == default_space("bollinger_scalp")
    assert "best params (sharpe: the mean of 2 files, each below)" in local
    assert "  ETHUSDT-1h: in-sample" in local and "  BTCUSDT-1h: in-sample" in local


@pytest.mark.django_db
def test_resumed_run_of_a_signal_strategy_over_two_files_equals_an_uninterrupted_run(
    eth_file, btc_file
) -> None:
    files = [eth_file, btc_file]
    fresh = _two(files, strategy="bollinger_scalp", space=BOLLINGER)
    optimization_run_execute(fresh.pk)

    crashed = _two(files, strategy="bollinger_scalp", space=BOLLINGER)
    seen = []

    def crash_in_round_two(progress) -> None:
        seen.append(progress.done)
        if len(seen) == 20:  # round one is 5 windows x 3 trials
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        optimization_run_execute(crashed.pk, progress=crash_in_round_two)
    kept = dict(crashed.trials.filter(state="complete").values_list("pk", "finished_at"))
    assert len(kept) >= 20
    _command("--resume", str(crashed.pk))
    assert _results(crashed) == _results(fresh)
    assert crashed.windows == fresh.windows
    assert dict(crashed.trials.filter(pk__in=kept).values_list("pk", "finished_at")) == kept


@pytest.mark.django_db
def test_resume_with_one_changed_file_names_that_file(eth_file, btc_file) -> None:
    run = _two([eth_file, btc_file])
    changed = {**run.data_fingerprint[btc_file], "last_close": 1.0}
    OptimizationRun.objects.filter(pk=run.pk).update(
        data_fingerprint={**run.data_fingerprint, btc_file: changed}
    )
    with pytest.raises(OptimizerError, match=f"^{btc_file}: the data differ from when run"):
        optimization_run_execute(run.pk)


@pytest.mark.django_db
def test_run_created_with_one_fingerprint_is_migrated_to_one_per_file(eth_file) -> None:
    migration = importlib.import_module(
        "apps.backtest.migrations.0004_optimizationrun_fingerprint_per_file"
    )
    run = _run(eth_file, trials=2, batch=2)
    legacy = run.data_fingerprint[eth_file]
    OptimizationRun.objects.filter(pk=run.pk).update(data_fingerprint=legacy)
    migration.fingerprint_per_file(django_apps, None)
    run.refresh_from_db()
    assert run.data_fingerprint == {eth_file: legacy}
    assert optimization_run_execute(run.pk).status == "done"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "trend_swing", "--space", '{"bb_std": [2]}'], "unknown parameter"),
        (["--strategy", "trend_swing", "--space", '{"stop_atr": [0]}'], "stop_atr must be >="),
        (["--strategy", "trend_swing", "--method", "grid"], "a grid search needs a space"),
        (["--strategy", "signal"], "invalid choice: 'signal'"),
        (
            ["--strategy", "trend_swing", "--train", "40", "--test", "20", "--warmup", "0"],
            "trend_swing with its default parameters cannot run on ETHUSDT-1h: trend_swing: "
            "needs at least 51 closed candles, got 40",
        ),
        (["--data", "ETH", "ETH"], "is given twice"),
        (["--data", "ETH", "BTC4H"], "all data files must have one interval"),
    ],
)
def test_optimize_with_bad_strategy_or_files_fails_in_one_line_and_stores_nothing(
    eth_file, tmp_path, args, message
) -> None:
    four_hours = tmp_path / "BTCUSDT-4h.csv"
    four_hours.write_text(
        "open_time,open,high,low,close,volume\n"
        + "".join(f"{START + i * 14_400_000},1,2,0.5,1.5,10\n" for i in range(600))
    )
    files = {"ETH": eth_file, "BTC4H": str(four_hours)}
    args = [files.get(a, a) for a in args]
    with pytest.raises(CommandError, match=message) as failure:
        _command("--data", eth_file, *args)
    assert "\n" not in str(failure.value)
    assert not OptimizationRun.objects.exists()


# --- real worker processes on Redis and PostgreSQL ---------------------------------------------


def _worker_database_url() -> str:
    from django.conf import settings

    parts = urlsplit(settings.TEST_DATABASE_URL)
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


@pytest.fixture
def two_workers(redis_url: str, tmp_path: Path):
    """Two `celery worker` processes (solo pool) on Redis, writing to the test database."""
    queue = f"opt{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="tradingplatform.settings.dev",
        REDIS_URL=redis_url,
        DATABASE_URL=_worker_database_url(),
        DATABASE_CONN_MAX_AGE="0",
        FIELD_ENCRYPTION_KEY="Pv2yJ5M1o0x3Zf6j3Pq2aHn0QqB1Zo8c2sYq9fXzH4k=",
    )
    procs, logs = [], []
    for i in range(2):
        log = (tmp_path / f"worker{i}.log").open("wb")
        command = [sys.executable, "-m", "celery", "-A", "tradingplatform", "worker"]
        command += ["--pool", "solo", "--without-gossip", "--without-mingle", "--loglevel", "INFO"]
        command += ["-Q", queue, "-n", f"{queue}-{i}@test"]
        procs.append(
            subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        )
        logs.append(log)
    from celery import Celery

    client = Celery("test-client", broker=redis_url, set_as_current=False)
    client.conf.task_serializer = "json"

    def dispatch(run_id: int) -> None:
        client.send_task("backtest.optimize_trials", args=[run_id], queue=queue)

    try:
        yield dispatch, queue, procs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()
        client.close()


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_run_on_two_real_workers_equals_the_in_process_run(eth_file, two_workers) -> None:
    dispatch, queue, procs = two_workers
    local = _run(eth_file)
    optimization_run_execute(local.pk)
    remote = _run(eth_file, distributed=True)
    optimization_run_execute(remote.pk, dispatch=dispatch, parallel=2, timeout_s=120)
    assert _results(remote) == _results(local)
    trials = list(remote.trials.all())
    assert all(t.state == "complete" and t.attempts == 1 for t in trials)  # each claimed once
    assert {t.worker for t in trials} <= {f"{queue}-0@test", f"{queue}-1@test"}
    assert all(p.poll() is None for p in procs)
