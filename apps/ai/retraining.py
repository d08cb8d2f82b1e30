"""Scheduled re-training: a bot's active model is re-trained on recent candles and replaced only
when the candidate does better out of sample by the bot's margin.

``bot_retrain`` (the ``ai.retrain_bot`` task, scheduled per bot from its AI settings through
django-celery-beat by ``retrain_schedule_sync``): for each model slot of the bot holding an agent
or an LSTM, train a candidate of the same kind and hyper-parameters on the bot's first symbol
over the last ``retrain_window_days`` (the last 20 % of them held out), judge the candidate and
the active model on that held-out part (the same candles, fees, slippage and funding), and:
promote the candidate when its Sharpe beats the active one's by ``promote_margin`` and the bot
allows automatic promotion; otherwise leave it as a candidate awaiting approval (an admin
action activates it) or keep the active model. Every run is recorded (``RetrainRun``); a
promotion is a ``ModelPromotion``, which one admin action rolls back.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from apps.ai.models import BotAi, ModelArtifact, RetrainRun
from apps.ai.services import ArtifactError, artifact_load, model_activate
from apps.ai.training import (
    Market,
    TrainingError,
    TrainRequest,
    _tail_judge,
    markets_load,
    model_request,
    model_train,
)
from apps.core.schedules import bot_schedule_sync

logger = logging.getLogger(__name__)
TASK = "ai.retrain_bot"


def _oos_sharpe(artifact: ModelArtifact) -> float | None:
    figures = (artifact.metrics or {}).get("out_of_sample") or {}
    values = [f["model"]["sharpe"] for f in figures.values()]
    return sum(values) / len(values) if values else None


def bot_retrain(*, bot_id: int, now: datetime) -> list[RetrainRun]:
    ai = BotAi.objects.select_related("bot__strategy", "agent", "predictor").get(bot_id=bot_id)
    runs = []
    for slot in ("agent", "predictor"):
        active = getattr(ai, slot)
        if active is not None:
            runs.append(_retrain_slot(ai, slot, active, now))
    return runs


def _retrain_slot(ai: BotAi, slot: str, active: ModelArtifact, now: datetime) -> RetrainRun:
    bot = ai.bot
    window = timedelta(days=ai.retrain_window_days)
    start, cut = now - window, now - window * 0.2
    request = TrainRequest(
        kind=active.kind,
        symbols=(bot.symbols[0],),
        interval=bot.strategy.timeframe,
        start=start,
        end=cut,
        oos_end=now,
        timesteps=active.timesteps or 50_000,
        seed=active.seed,
        name=f"retrain {bot.name} {slot}",
        hyperparameters={
            k: v
            for k, v in (active.hyperparameters or {}).items()
            if k not in ("validation", "oos_end", "members", "ensemble_mode", "ensemble_window")
        },
    )
    margin = float(ai.promote_margin)
    try:
        candidate = model_train(artifact_id=model_request(request).pk)
        active_score = _judge_active(active, request, cut)
    except (TrainingError, ArtifactError, ValueError) as exc:
        return RetrainRun.objects.create(
            bot=bot, slot=slot, active=active, margin=margin, decision=RetrainRun.Decision.FAILED,
            detail=str(exc)[:2000],
        )  # fmt: skip
    score = _oos_sharpe(candidate)
    better = score is not None and active_score is not None and score >= active_score + margin
    if better and ai.auto_promote:
        model_activate(
            bot=bot,
            slot=slot,
            artifact=candidate,
            decided_by="schedule",
            reason=f"out-of-sample Sharpe {score:.2f} vs {active_score:.2f} (+{margin})",
        )
        decision = RetrainRun.Decision.PROMOTED
    else:
        decision = RetrainRun.Decision.AWAITING if better else RetrainRun.Decision.KEPT
    run = RetrainRun.objects.create(
        bot=bot, slot=slot, active=active, candidate=candidate, active_score=active_score,
        candidate_score=score, margin=margin, decision=decision,
        detail=f"held-out candles from {cut:%Y-%m-%d %H:%M} to {now:%Y-%m-%d %H:%M}",
    )  # fmt: skip
    logger.info("bot %s %s re-training: %s", bot.name, slot, run)
    return run


def _judge_active(active: ModelArtifact, request: TrainRequest, cut: datetime) -> float | None:
    """The active model's Sharpe on the candidate's held-out candles."""
    import numpy as np

    model = artifact_load(active)
    scores = []
    for market in markets_load(request, start=request.start, end=request.oos_end):
        first = int(np.searchsorted(market.candles.open_time, int(cut.timestamp() * 1000)))
        figures = _tail_judge(
            model,
            Market(market.name, market.candles, market.funding),
            first,
            len(market.candles),
            request.hyperparameters,
        )
        scores.append(figures["model"]["sharpe"])
    return sum(scores) / len(scores) if scores else None


def retrain_schedule_sync(ai: BotAi) -> None:
    """Keep the bot's django-celery-beat entry in step with its re-training setting."""
    bot_schedule_sync(
        name=f"re-train AI of bot {ai.bot_id}",
        task=TASK,
        bot_id=ai.bot_id,
        every_days=0 if ai.role == BotAi.Role.NONE else ai.retrain_every_days,
        description=f"Re-trains the active AI models of {ai.bot} every "
        f"{ai.retrain_every_days} day(s) (the bot's AI settings).",
    )
