"""Celery task metrics from a real (embedded) worker: run time and state of each task, and
failures by exception class."""

from __future__ import annotations

import pytest
from celery.result import allow_join_result

from apps.core.embedded import start_embedded_worker, stop_embedded_worker
from apps.core.tasks import ping
from tradingplatform.celery import app

from .conftest import sample


@app.task(name="tests.metrics.boom")
def boom() -> None:
    raise ZeroDivisionError("planted failure")


@pytest.fixture
def worker():
    start_embedded_worker(concurrency=1, with_beat=False)
    yield
    stop_embedded_worker()


def test_worker_tasks_record_duration_state_and_failures(worker) -> None:
    runs = sample(
        "tradingplatform_celery_task_duration_seconds_count", task="core.ping", state="SUCCESS"
    )
    failures = sample(
        "tradingplatform_celery_task_failures_total",
        task="tests.metrics.boom",
        exception="ZeroDivisionError",
    )
    with allow_join_result():  # this process hosts the worker: it may wait on a result
        assert ping.delay("metrics").get(timeout=30)["pong"] == "metrics"
        with pytest.raises(ZeroDivisionError):
            boom.delay().get(timeout=30, propagate=True)
    after = sample(
        "tradingplatform_celery_task_duration_seconds_count", task="core.ping", state="SUCCESS"
    )
    assert after == runs + 1
    assert (
        sample("tradingplatform_celery_tasks_total", task="tests.metrics.boom", state="FAILURE")
        >= 1
    )
    assert (
        sample(
            "tradingplatform_celery_task_failures_total",
            task="tests.metrics.boom",
            exception="ZeroDivisionError",
        )
        == failures + 1
    )
