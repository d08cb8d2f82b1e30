"""Platform tasks: a ping for round-trip checks and the dashboard heartbeat."""

from __future__ import annotations

import socket

from celery import shared_task
from django.utils import timezone

from apps.events import publish_event


@shared_task(name="core.ping", time_limit=30, soft_time_limit=25)
def ping(token: str = "") -> dict[str, str]:
    """Answer with the token, the worker's host and the time: proof that a worker ran it."""
    return {"pong": token, "host": socket.gethostname(), "at": timezone.now().isoformat()}


@shared_task(name="core.heartbeat", time_limit=30, soft_time_limit=25, ignore_result=True)
def heartbeat() -> None:
    """Tell connected dashboards that the worker and beat are alive."""
    from apps.dashboard.selectors import platform_snapshot

    publish_event("heartbeat", {"at": timezone.now().isoformat(), **platform_snapshot()})
