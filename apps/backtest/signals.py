"""Keep each bot's re-optimisation schedule in step with its settings."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from apps.backtest.models import Reoptimization


@receiver(post_save, sender=Reoptimization)
def _schedule(sender: Any, instance: Reoptimization, **kwargs: Any) -> None:
    from apps.backtest.optimisation.reoptimization import reoptimization_schedule_sync

    reoptimization_schedule_sync(instance)
