"""Celery interface of the performance monitor."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.utils import timezone

from apps.monitoring.services import DEFAULT_PERIOD_HOURS, performance_review


@shared_task(name="monitoring.performance_review", time_limit=600, soft_time_limit=540)
def performance_review_task(period_hours: int = DEFAULT_PERIOD_HOURS) -> dict[str, Any]:
    """Run the performance review now over the last `period_hours`; return a JSON summary."""
    now = timezone.now()
    reports = performance_review(now=now, period_hours=int(period_hours))
    return {"at": now.isoformat(), "period_hours": int(period_hours), "reports": len(reports)}
