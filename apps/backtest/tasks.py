"""Backtest tasks: thin; the run id in, one service call."""

from __future__ import annotations

from celery import shared_task

from apps.backtest.optimisation.runs import default_worker_name, optimization_trials_work
from apps.backtest.services import backtest_run_execute

# A task claims trials for this long, then hands over to a fresh task (below the time limits).
OPTIMIZE_TASK_BUDGET_S = 600.0
# With nothing pending, a task waits this long for the coordinator's next round before it ends.
OPTIMIZE_TASK_LINGER_S = 1.0


@shared_task(name="backtest.run", time_limit=1800, soft_time_limit=1700, ignore_result=True)
def backtest_run(run_id: int) -> None:
    backtest_run_execute(run_id=run_id)


@shared_task(
    name="backtest.optimize_trials",
    bind=True,
    time_limit=1800,
    soft_time_limit=1700,
    ignore_result=True,
)
def optimize_trials(self, run_id: int) -> int:
    """Claim and evaluate pending trials of an optimisation run until none is left."""
    done, more = optimization_trials_work(
        run_id=run_id,
        worker=self.request.hostname or default_worker_name(),
        budget_s=OPTIMIZE_TASK_BUDGET_S,
        linger_s=0.0 if self.request.is_eager else OPTIMIZE_TASK_LINGER_S,
    )
    if more:
        optimize_trials.delay(run_id)
    return done


@shared_task(name="backtest.reoptimise_bot", acks_late=False, time_limit=3600,
             soft_time_limit=3500)  # fmt: skip
def reoptimise_bot(bot_id: int) -> str:
    """A bot's scheduled re-optimisation (acknowledged on receipt: a long search delivered
    twice would decide twice)."""
    from django.utils import timezone

    from apps.backtest.optimisation.reoptimization import bot_reoptimise

    return bot_reoptimise(bot_id=bot_id, now=timezone.now()).decision
