from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from apps.core.schedules import PERIODIC_TASKS


class Command(BaseCommand):
    help = "Write the platform's periodic tasks to the database scheduler (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            for spec in PERIODIC_TASKS:
                interval, _ = IntervalSchedule.objects.get_or_create(
                    every=spec.every_seconds, period=IntervalSchedule.SECONDS
                )
                task, created = PeriodicTask.objects.get_or_create(
                    name=spec.name,
                    defaults={
                        "task": spec.task,
                        "interval": interval,
                        "description": spec.description,
                    },
                )
                if not created and (task.task != spec.task or task.interval_id != interval.id):
                    # Keep a user's enable/disable choice; put back the task and interval.
                    task.task = spec.task
                    task.interval = interval
                    task.save(update_fields=["task", "interval"])
                self.stdout.write(
                    f"{'created' if created else 'kept'}: {spec.name} -> {spec.task} "
                    f"every {spec.every_seconds}s"
                )
