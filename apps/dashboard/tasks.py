"""Dashboard tasks: publish an event from any worker to every connected dashboard."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from apps.events import publish_event


@shared_task(name="dashboard.publish", time_limit=30, soft_time_limit=25, ignore_result=True)
def publish(kind: str, data: dict[str, Any]) -> None:
    publish_event(kind, data)
