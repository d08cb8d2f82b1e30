"""The review task: registered, time-limited, scheduled every 6 hours, runs the service."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from apps.core.schedules import PERIODIC_TASKS
from apps.monitoring.models import PerformanceReport
from apps.monitoring.tasks import performance_review_task
from tradingplatform.celery import app

TASK = "monitoring.performance_review"


def test_review_task_with_celery_app_is_registered_with_time_limits() -> None:
    app.loader.import_default_modules()
    task = app.tasks[TASK]
    assert task.name == performance_review_task.name == TASK
    assert task.soft_time_limit is not None and task.time_limit is not None
    assert 0 < task.soft_time_limit < task.time_limit


def test_review_task_with_periodic_registry_runs_every_six_hours() -> None:
    (spec,) = [s for s in PERIODIC_TASKS if s.task == TASK]
    assert spec.every_seconds == 6 * 60 * 60
    assert any(s.task == "core.heartbeat" for s in PERIODIC_TASKS)


@pytest.mark.django_db
def test_setup_periodic_tasks_with_review_spec_writes_it_to_beat() -> None:
    call_command("setup_periodic_tasks", stdout=StringIO())
    periodic = PeriodicTask.objects.get(task=TASK)
    assert periodic.interval.every == 21600 and periodic.interval.period == "seconds"


@pytest.mark.django_db
def test_review_task_with_json_args_returns_json_summary() -> None:
    result = performance_review_task.apply(kwargs={"period_hours": 6}).get()
    assert result["period_hours"] == 6 and result["reports"] == 2
    assert PerformanceReport.objects.count() == 2
