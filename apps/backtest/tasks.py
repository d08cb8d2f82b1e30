"""Backtest tasks: thin; the run id in, one service call."""

from __future__ import annotations

from celery import shared_task

from apps.backtest.services import backtest_run_execute


@shared_task(name="backtest.run", time_limit=1800, soft_time_limit=1700, ignore_result=True)
def backtest_run(run_id: int) -> None:
    backtest_run_execute(run_id=run_id)
