"""The embedded default starts the Telegram worker when its in-process beat starts."""

from __future__ import annotations

import pytest
from celery.beat import EmbeddedService
from celery.signals import beat_init

from apps.telegram import worker as telegram_worker
from tests.telegram.conftest import ALICE, wait_until
from tradingplatform.celery import app

pytestmark = pytest.mark.django_db(transaction=True)


def test_embedded_beat_thread_starts_the_worker_that_answers(tg, telegram, settings, tmp_path):
    settings.TELEGRAM_POLL_TIMEOUT_S = 1
    settings.TELEGRAM_EMBEDDED, settings.CELERY_EMBEDDED = True, False
    beat_init.send(sender=None)  # a `celery beat` process beside a broker server: not there
    assert telegram_worker.embedded_worker() is None
    settings.TELEGRAM_EMBEDDED, settings.CELERY_EMBEDDED = False, True
    beat_init.send(sender=None)  # switched off
    assert telegram_worker.embedded_worker() is None

    settings.TELEGRAM_EMBEDDED = True
    beat = EmbeddedService(  # as apps.core.embedded starts it, on a throwaway schedule file
        app,
        thread=True,
        scheduler_cls="celery.beat:PersistentScheduler",
        schedule_filename=str(tmp_path / "beat-schedule"),
    )
    beat.start()
    try:
        wait_until(lambda: telegram_worker.embedded_worker() is not None)
        tg.say(ALICE, "/help", username="alice")
        tg.wait_sent(lambda m: m.text.startswith("Commands:"), chat_id=ALICE)
    finally:
        beat.stop()
        telegram_worker.stop_embedded()
    assert telegram_worker.embedded_worker() is None
