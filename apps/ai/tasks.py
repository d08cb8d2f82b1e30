"""AI tasks: training on a worker and the re-training schedule (thin: ids in, one service).

Delivery: acknowledged on receipt (``acks_late=False``). A training runs for minutes, longer
than the broker's visibility timeout: a late acknowledgement would have it delivered again, and
trained twice, while the first run goes on. A training lost with its worker stays ``training``
on its row and is marked failed by ``models_sweep`` after ``STALE_TRAINING``.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from apps.ai.models import ModelArtifact
from apps.ai.training import TrainingError, model_train

logger = logging.getLogger(__name__)
STALE_TRAINING = timedelta(hours=2)


@shared_task(name="ai.train_model", acks_late=False, time_limit=7200, soft_time_limit=7000)
def train_model(artifact_id: int) -> None:
    try:
        artifact = model_train(artifact_id=artifact_id)
    except TrainingError as exc:
        logger.warning("model %s: training failed: %s", artifact_id, exc)
        return
    logger.info("model %s trained: %s", artifact_id, artifact)


@shared_task(name="ai.retrain_bot", acks_late=False, time_limit=7200, soft_time_limit=7000)
def retrain_bot(bot_id: int) -> None:
    from apps.ai.retraining import bot_retrain

    decision = bot_retrain(bot_id=bot_id, now=timezone.now())
    logger.info("bot %s re-training: %s", bot_id, decision)


@shared_task(name="ai.models_sweep", acks_late=False, time_limit=60, ignore_result=True)
def models_sweep() -> int:
    """Mark trainings whose worker died (no progress for ``STALE_TRAINING``) as failed."""
    stale = ModelArtifact.objects.filter(
        status=ModelArtifact.Status.TRAINING, updated_at__lt=timezone.now() - STALE_TRAINING
    )
    return stale.update(
        status=ModelArtifact.Status.FAILED,
        error="training stopped: its worker was lost (no progress for 2 hours)",
    )
