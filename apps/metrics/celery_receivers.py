"""Celery task metrics from Celery's own signals: run time and final state of every task, and
failures by exception class. They fire in the process that runs the task (a worker, or the
web process in the embedded default)."""

from __future__ import annotations

import threading
import time
from typing import Any

from celery.signals import task_failure, task_postrun, task_prerun

from apps.metrics import registry as m
from apps.metrics.domain.labels import label

_lock = threading.Lock()
_started: dict[str, float] = {}
MAX_RUNNING = 10_000  # forget starts of tasks never finished (a killed pool process)


def _name(task: Any, sender: Any = None) -> str:
    return label(getattr(task or sender, "name", None), default="unknown")


@task_prerun.connect(dispatch_uid="metrics-task-prerun", weak=False)
def task_started(task_id: str | None = None, **_: Any) -> None:
    if task_id is None:
        return
    with _lock:
        if len(_started) >= MAX_RUNNING:
            _started.clear()
        _started[task_id] = time.perf_counter()


@task_postrun.connect(dispatch_uid="metrics-task-postrun", weak=False)
def task_finished(
    task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any
) -> None:
    with _lock:
        started = _started.pop(task_id, None) if task_id else None
    name, final = _name(task), label(state, default="unknown")
    m.TASKS.labels(name, final).inc()
    if started is not None:
        m.TASK_DURATION.labels(name, final).observe(time.perf_counter() - started)


@task_failure.connect(dispatch_uid="metrics-task-failure", weak=False)
def task_failed(sender: Any = None, exception: BaseException | None = None, **_: Any) -> None:
    kind = type(exception).__name__ if exception is not None else "unknown"
    m.TASK_FAILURES.labels(_name(sender), label(kind)).inc()
