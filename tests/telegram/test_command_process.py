"""`manage.py telegrambot` as its own process against the fake Telegram server, sharing the
test database (PostgreSQL): it answers an allowed chat and pauses a bot with the actor, and
nothing it prints holds the token."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from apps.bots.models import Bot
from apps.telegram.models import CommandRecord
from tests.factories import make_ema_paper_bot
from tests.telegram.conftest import ALICE, TOKEN, wait_until

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def test_telegrambot_command_process_answers_and_pauses(tg, telegram, tmp_path) -> None:
    bot = make_ema_paper_bot("tg-proc", account="paper-proc", symbols=("BTCUSDT",))
    Bot.objects.filter(pk=bot.pk).update(state=Bot.State.RUNNING)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="tradingplatform.settings.test",
        TEST_DATABASE_URL=_database_url(),  # the test settings' database is this test's
        TELEGRAM_API_BASE_URL=tg.url,
        LOG_LEVEL="DEBUG",
    )
    log_path = tmp_path / "telegrambot.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "telegrambot", "--poll-timeout", "1"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
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
            proc.terminate()
            code = proc.wait(timeout=30)
    output = log_path.read_text()
    assert code == 0, output
    assert "polling " in output and "for commands from 2 allowed chat(s)" in output
    assert "Telegram worker stopped" in output
    assert TOKEN not in output and TOKEN.split(":", 1)[1] not in output
