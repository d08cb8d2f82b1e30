"""Scheduled re-optimisation of a bot's rule-strategy parameters (the seed's "automatic parameter
optimisation"), decided on held-out candles and recorded; one action rolls it back.

``bot_reoptimise`` (the ``backtest.reoptimise_bot`` task, scheduled per bot by
``reoptimization_schedule_sync`` through django-celery-beat): the bot's symbols' imported candles
over the last ``window_days`` are split 80 / 20; the optimiser (``ParameterOptimizer``, TPE
seeded by the bot's id) searches the kind's default space on the first part, the bot's other
parameters held at their current values; the winner and the bot's current parameters are both
scored on the held-out part (preceded by the candles the slower of the two needs before its first
signal, so that no judged trade falls in the searched part; the mean over the symbols).
The winner is promoted only when its held-out score beats the current one by the margin: a new
``Strategy`` row with the winner's parameters, to which the bot switches (other bots sharing the
old row keep it). ``parameters_rollback`` switches the bot back.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction

from apps.backtest.models import Reoptimization, ReoptimizationRun
from apps.backtest.optimisation.optimizer import (
    OptimizerError,
    ParameterOptimizer,
    align_series,
    default_space,
)
from apps.backtest.services import BacktestError, series_db_load
from apps.bots.models import Bot
from apps.core.schedules import bot_schedule_sync
from apps.exchange.domain.types import datetime_to_ms
from apps.strategies.domain.params import ParameterError, validate_parameters
from apps.strategies.domain.registry import build_strategy
from apps.strategies.models import Strategy

logger = logging.getLogger(__name__)
TASK = "backtest.reoptimise_bot"
HELD_OUT = 0.2


def _space(kind: str, current: dict[str, Any]) -> dict[str, Any]:
    """The kind's default space; the parameters it does not search stay at the bot's values."""
    space = default_space(kind)
    for name, value in current.items():
        if name not in space:
            space[name] = [value]
    return space


def bot_reoptimise(*, bot_id: int, now: datetime) -> ReoptimizationRun:
    settings_ = Reoptimization.objects.select_related("bot__strategy").get(bot_id=bot_id)
    bot = settings_.bot
    strategy = bot.strategy
    current = validate_parameters(strategy.kind, strategy.parameters)
    margin = float(settings_.promote_margin)
    record: dict[str, Any] = {"bot": bot, "active_strategy": strategy, "active_params": current,
                              "margin": margin}  # fmt: skip
    try:
        window = timedelta(days=settings_.window_days)
        series = align_series(
            series_db_load(
                symbols=list(bot.symbols),
                interval=strategy.timeframe,
                start_ms=datetime_to_ms(now - window),
                end_ms=datetime_to_ms(now),
            )
        )
        size = len(series[0])
        cut = int(size * (1 - HELD_OUT))
        needs = build_strategy(strategy.kind, current).min_candles
        if cut < needs + 50 or size - cut < 20:
            raise OptimizerError(f"too few candles to re-optimise on ({size} in the window)")
        train = [k.slice(0, cut) for k in series]
        optimizer = ParameterOptimizer(
            strategy=strategy.kind,
            space=_space(strategy.kind, current),
            objective=settings_.objective,
            trials=settings_.trials,
            seed=bot.pk,
        )
        optimizer.check_data(train)
        found = optimizer.search(train)
        candidate = validate_parameters(strategy.kind, {**current, **found.best_params})
        # Both are judged on the same held-out candles: each test starts with just the
        # candles either strategy needs before its first signal, so no trade of the
        # judgement falls in the searched part (a longer warm-up would, for a slow EMA).
        needs = max(needs, build_strategy(strategy.kind, candidate).min_candles)
        test = [k.slice(max(0, cut - needs), size) for k in series]
        candidate_score = optimizer.evaluate(candidate, test).value
        active_score = optimizer.evaluate(current, test).value
    except (OptimizerError, BacktestError, ParameterError, ValueError) as exc:
        return ReoptimizationRun.objects.create(
            **record, decision=ReoptimizationRun.Decision.FAILED, detail=str(exc)[:2000]
        )
    better = candidate != current and candidate_score >= active_score + margin
    run = ReoptimizationRun.objects.create(
        **record,
        candidate_params=candidate,
        candidate_score=candidate_score,
        active_score=active_score,
        in_sample_score=found.best_value,
        decision=(
            ReoptimizationRun.Decision.AWAITING if better else ReoptimizationRun.Decision.KEPT
        ),
        detail=f"{settings_.objective} on {', '.join(bot.symbols)} {strategy.timeframe}: "
        f"searched {cut} candles, judged the last {size - cut} (to {now:%Y-%m-%d %H:%M})",
    )
    if better and settings_.auto_promote:
        run = parameters_promote(run=run, decided_by="schedule")
    logger.info("bot %s re-optimisation: %s", bot.name, run)
    return run


def parameters_promote(*, run: ReoptimizationRun, decided_by: str) -> ReoptimizationRun:
    """The bot trades the run's candidate parameters from its next cycle (a new strategy row)."""
    if run.decision != ReoptimizationRun.Decision.AWAITING:
        raise ValueError(f"re-optimisation {run.pk} awaits no approval ({run.decision})")
    with transaction.atomic():
        bot = Bot.objects.select_for_update().select_related("strategy").get(pk=run.bot_id)
        old = bot.strategy
        new = Strategy.objects.create(
            name=f"{old.name[:40]}-reopt-{run.pk}",
            kind=old.kind,
            mode=old.mode,
            timeframe=old.timeframe,
            parameters=run.candidate_params,
            description=f"Re-optimised from {old.name} (run {run.pk}, {decided_by}): "
            f"held-out {run.candidate_score:.3f} vs {run.active_score:.3f}.",
        )
        bot.strategy = new
        bot.save(update_fields=["strategy"])
        run.new_strategy, run.decision, run.decided_by = (
            new,
            ReoptimizationRun.Decision.PROMOTED,
            decided_by,
        )
        run.save(update_fields=["new_strategy", "decision", "decided_by"])
    logger.info("bot %s: strategy %s -> %s (%s)", bot.name, old.name, new.name, decided_by)
    return run


def parameters_rollback(*, run: ReoptimizationRun, decided_by: str) -> ReoptimizationRun:
    """The bot goes back to the strategy it had before the run's promotion."""
    if run.decision != ReoptimizationRun.Decision.PROMOTED or run.rolled_back:
        raise ValueError(f"re-optimisation {run.pk} has no promotion to roll back")
    if run.active_strategy is None:
        raise ValueError(f"re-optimisation {run.pk}: the previous strategy no longer exists")
    with transaction.atomic():
        bot = Bot.objects.select_for_update().get(pk=run.bot_id)
        bot.strategy = run.active_strategy
        bot.save(update_fields=["strategy"])
        run.rolled_back = True
        run.detail = f"{run.detail}; rolled back by {decided_by}"[:4000]
        run.save(update_fields=["rolled_back", "detail"])
    return run


def reoptimization_schedule_sync(settings_: Reoptimization) -> None:
    """Keep the bot's django-celery-beat entry in step with its re-optimisation setting."""
    bot_schedule_sync(
        name=f"re-optimise parameters of bot {settings_.bot_id}",
        task=TASK,
        bot_id=settings_.bot_id,
        every_days=settings_.every_days,
        description=f"Re-optimises the parameters of {settings_.bot} every "
        f"{settings_.every_days} day(s) (the bot's re-optimisation settings).",
    )
