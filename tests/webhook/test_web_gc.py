"""A web process freezes its start-up objects and collects its youngest garbage generation
less often (``WEB_GC_GEN0_THRESHOLD``): the collector's pauses were the webhook's p99."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROBE = "import gc, tradingplatform.asgi; print(gc.get_threshold()[0], gc.get_freeze_count())"


def _web_process_gc(threshold: str | None) -> tuple[int, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    env["DJANGO_SETTINGS_MODULE"] = "tradingplatform.settings.dev"
    env.pop("WEB_GC_GEN0_THRESHOLD", None)
    if threshold is not None:
        env["WEB_GC_GEN0_THRESHOLD"] = threshold
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    gen0, frozen = done.stdout.split()
    return int(gen0), int(frozen)


@pytest.mark.parametrize(
    ("threshold", "gen0", "frozen"),
    [(None, 100_000, True), ("25000", 25_000, True), ("0", 700, False)],
)
def test_the_web_application_tunes_the_garbage_collector_as_configured(
    threshold: str | None, gen0: int, frozen: bool
) -> None:
    got_gen0, got_frozen = _web_process_gc(threshold)
    assert got_gen0 == gen0
    assert (got_frozen > 100_000) is frozen  # Django and the apps: hundreds of thousands
