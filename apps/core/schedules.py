"""The platform's periodic tasks; ``manage.py setup_periodic_tasks`` writes them to the database
scheduler (django-celery-beat), where they can be edited in the admin."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PeriodicSpec:
    name: str
    task: str
    every_seconds: int
    description: str


PERIODIC_TASKS: tuple[PeriodicSpec, ...] = (
    PeriodicSpec(
        name="trading cycles",
        task="trading.schedule",
        every_seconds=2,
        description="Runs each running bot's cycles for the candles that closed since its last.",
    ),
    PeriodicSpec(
        name="live market data",
        task="trading.sync_market_data",
        every_seconds=20,
        description="Stores the candles that closed on live bots' venues (their cycles follow).",
    ),
    PeriodicSpec(
        name="reconcile live bots",
        task="exchange.reconcile_live",
        every_seconds=300,
        description="Brings live bots' orders, fills and positions up to the exchange.",
    ),
    PeriodicSpec(
        name="dashboard heartbeat",
        task="core.heartbeat",
        every_seconds=10,
        description="Pushes a heartbeat with live counts to connected dashboards.",
    ),
    PeriodicSpec(
        name="deliver notifications",
        task="notifications.deliver",
        every_seconds=5,
        description="Sends the notification outbox (trades, breaker, kill switch, halts, daily "
        "summary) to the e-mail, webhook and Telegram channels that chose each event.",
    ),
    PeriodicSpec(
        name="performance review",
        task="monitoring.performance_review",
        every_seconds=6 * 60 * 60,
        description="Reviews closed trades every 6 hours, stores reports and raises alerts.",
    ),
)


def bot_schedule_sync(
    *, name: str, task: str, bot_id: int, every_days: int, description: str
) -> None:
    """Keep one bot's django-celery-beat entry ``name`` in step with its setting: ``task`` with
    the bot's id every ``every_days`` days; none when ``every_days`` <= 0."""
    import json

    from django.db import transaction
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    with transaction.atomic():
        if every_days <= 0:
            PeriodicTask.objects.filter(name=name).delete()
            return
        every, _ = IntervalSchedule.objects.get_or_create(
            every=every_days, period=IntervalSchedule.DAYS
        )
        PeriodicTask.objects.update_or_create(
            name=name,
            defaults={
                "task": task,
                "interval": every,
                "args": json.dumps([bot_id]),
                "enabled": True,
                "description": description,
            },
        )
