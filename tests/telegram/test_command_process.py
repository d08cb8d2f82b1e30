"""`manage.py telegrambot` as its own process against the fake Telegram server, sharing the
test database (PostgreSQL): it answers an allowed chat and pauses a bot with the actor, and
nothing it prints holds the token."""

from __future__ import annotations

import sys

import pytest
from django.db import connection

from apps.bots.models import Bot
from apps.telegram.models import CommandRecord
from tests.factories import make_ema_paper_bot
from tests.telegram.conftest import ALICE, TOKEN, wait_until
from testsupport.processes import Process, process_env

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def test_telegrambot_command_process_answers_and_pauses(tg, telegram, tmp_path) -> None:
    bot = make_ema_paper_bot("tg-proc", account="paper-proc", symbols=("BTCUSDT",))
    Bot.objects.filter(pk=bot.pk).update(state=Bot.State.RUNNING)
    env = process_env(
        "tradingplatform.settings.test",
        servers=True,
        TEST_DATABASE_URL=_database_url(),  # the test settings' database is this test's
        TELEGRAM_API_BASE_URL=tg.url,
        LOG_LEVEL="DEBUG",
    )
    proc = Process(
        [sys.executable, "manage.py", "telegrambot", "--poll-timeout", "1"],
        env=env,
        log=tmp_path / "telegrambot.log",
    )
    proc.start()
    try:
        tg.say(ALICE, "/status", username="alice")
        status = tg.wait_sent(lambda m: "Bots (1):" in m.text, chat_id=ALICE, within=90)
        assert "tg-proc: running; paper; 0 open" in status.text
        tg.say(ALICE, "/pause tg-proc", username="alice")
        tg.wait_sent(lambda m: "Paused tg-proc" in m.text, chat_id=ALICE)
        bot.refresh_from_db()
        assert bot.state == Bot.State.PAUSED
        assert bot.state_reason == f"paused by telegram:{ALICE}/alice"
        wait_until(lambda: CommandRecord.objects.filter(outcome="done").count() == 2)
    finally:
        code = proc.stop(grace=30)
    output = proc.log_text()
    assert code == 0, output
    assert "polling " in output and "for commands from 2 allowed chat(s)" in output
    assert "Telegram worker stopped" in output
    assert TOKEN not in output and TOKEN.split(":", 1)[1] not in output
