"""The chaos campaign, reduced: the platform as deployed (daphne, a Celery worker and beat on
PostgreSQL and Redis, the fake Binance server) under faults, then the checks that nothing was
lost. The full campaign is ``python benchmarks/chaos.py`` (figures in docs/benchmarks.md)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _servers_missing() -> str:
    if not shutil.which("redis-server"):
        return "redis-server is not installed"
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")) and not shutil.which("initdb"):
        return "PostgreSQL's initdb is not installed"
    if os.geteuid() == 0 and not shutil.which("runuser"):
        return "runuser is needed to start PostgreSQL as root"
    return ""


def test_chaos_campaign_loses_no_order_or_fill_and_leaves_the_records_equal_to_the_venue():
    missing = _servers_missing()
    if missing:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    from benchmarks.chaos import CampaignConfig, run_campaign

    config = CampaignConfig(
        alerts=50,
        kills=2,  # one of them while an order is held in flight on the fake
        redis_restarts=1,
        postgres_restarts=1,
        socket_drops=1,
        pause=0.5,
        seed=11,
    )
    result = run_campaign(config)
    report = "\n".join([*result.failures, f"faults: {result.faults}", f"figures: {result.figures}"])
    assert result.ok, report
    assert result.faults["kill -9 worker (order in flight)"] == 1, report
    assert result.faults["redis restart"] == 1 and result.faults["postgres restart"] == 1
    assert result.figures["live orders recorded"] >= 20, report  # it really traded
    assert result.figures["live fills"] >= 10, report
    answers = result.figures["webhook answers"]  # the paper signal bot took the alerts too
    assert answers.get("paper 202", 0) >= 40, report
    assert result.figures["paper signal decided after (s): p50, p95, max"][0] is not None
    assert result.checks["kill switch left (orders, positions)"] == [0, 0]
