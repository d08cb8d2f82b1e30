"""Fixtures of the fuzz suite: the webhook's signal bot with the fuzz passphrase, throttles
loose enough that fuzzing measures answers rather than the rate limits, and the answer checks
every fuzz test shares."""

from __future__ import annotations

import json
from typing import Any

import pytest

from apps.bots.models import Bot
from apps.trading.models import Signal
from tests.fuzz.payloads import SECRET
from tests.webhook.conftest import fresh_throttle_counters, signal_bot  # noqa: F401  (fixtures)


@pytest.fixture
def fuzz_bot(settings, signal_bot) -> Bot:  # noqa: F811
    settings.WEBHOOK_SECRET = SECRET
    settings.WEBHOOK_THROTTLE_RATE = "1000000/minute"
    settings.WEBHOOK_AUTH_FAILURE_RATE = "1000000/minute"
    return signal_bot


def signal_counts() -> tuple[int, int, int]:
    """(all signals, accepted, rejected)."""
    return (
        Signal.objects.count(),
        Signal.objects.filter(outcome=Signal.Outcome.ACCEPTED).count(),
        Signal.objects.filter(outcome=Signal.Outcome.REJECTED).count(),
    )


def check_webhook_answer(
    status: int, content: bytes, before: tuple[int, int, int], after: tuple[int, int, int]
) -> dict[str, Any]:
    """No 5xx; a JSON answer in one of the two documented shapes; and nothing stored for a
    refusal (a 422 ``unprocessable`` records one rejected row at most, or counts a repeat)."""
    why = f"status {status}: {content[:300]!r}"
    assert status < 500, why
    data = json.loads(content)
    assert set(data) in ({"message", "code", "extra"}, {"signal_id", "status", "duplicate"}), why
    if status == 202:
        assert after[1] == before[1] + 1 and after[0] == before[0] + 1, why
    elif status == 422 and data["code"] == "unprocessable":
        assert after[1] == before[1] and after[0] - before[0] in (0, 1), why
        assert after[0] - before[0] == after[2] - before[2], why
    else:
        assert status in (200, 400, 401, 413, 422, 429), why
        assert after == before, why
    if "message" in data:
        assert isinstance(data["message"], str) and "\n" not in data["message"], why
    return data
