"""Keep each bot's re-training schedule in step with its AI settings."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from apps.ai.models import BotAi


@receiver(post_save, sender=BotAi)
def _schedule(sender: Any, instance: BotAi, **kwargs: Any) -> None:
    from apps.ai.retraining import retrain_schedule_sync

    retrain_schedule_sync(instance)
