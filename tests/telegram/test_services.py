"""One update at a time through `update_handle` (the poller's step), replying over the fake."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from apps.telegram.domain.flood import FloodGate
from apps.telegram.models import CommandRecord
from apps.telegram.selectors import telegram_api
from apps.telegram.services import MAX_COMMAND_AGE_S, update_handle
from tests.telegram.conftest import ALICE

pytestmark = pytest.mark.django_db


def _update(text: str, *, age_s: float = 0, update_id: int = 1) -> dict:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": {"id": ALICE, "username": "alice"},
            "chat": {"id": ALICE, "type": "private"},
            "date": int(time.time() - age_s),
            "text": text,
        },
    }


def _handle(telegram, update: dict) -> str | None:
    now = datetime.now(tz=UTC)
    return update_handle(
        update=update,
        config=telegram,
        api=telegram_api(telegram),
        gate=FloodGate(limit=5),
        monotonic=time.monotonic(),
        now=now,
        market_now=now,
    )


def test_command_older_than_the_limit_is_not_obeyed(tg, telegram) -> None:
    tg.add_chat(ALICE)
    assert _handle(telegram, _update("/killswitch", age_s=MAX_COMMAND_AGE_S + 5)) is None
    assert tg.sent() == [] and not CommandRecord.objects.exists()
    assert _handle(telegram, _update("/help", age_s=5)).startswith("Commands:")


def test_chat_text_is_ignored_and_unknown_command_is_refused_in_one_line(tg, telegram) -> None:
    tg.add_chat(ALICE)
    assert _handle(telegram, _update("hello bot")) is None
    assert (
        _handle(telegram, _update("/sell all")) == "Unknown command /sell. Send /help for the list."
    )
    [record] = CommandRecord.objects.all()
    assert record.outcome == "refused" and record.actor == f"telegram:{ALICE}/alice"
    assert [m.text for m in tg.sent(ALICE)] == ["Unknown command /sell. Send /help for the list."]


def test_edits_and_other_updates_are_ignored(tg, telegram) -> None:
    assert _handle(telegram, {"update_id": 3, "edited_message": {"text": "/status"}}) is None
    assert tg.sent() == []
