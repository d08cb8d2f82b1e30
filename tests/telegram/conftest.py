"""Fixtures of the Telegram tests: the fake Bot API server, the bot's configuration, the real
worker (poller and notifier threads) against it, and a paper bot holding a real position."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from apps.bots.models import Bot
from apps.monitoring.models import NotificationChannel
from apps.telegram.models import TelegramBot
from apps.telegram.worker import TelegramWorker
from apps.trading.models import Position
from apps.trading.replay import replay_bot
from tests.factories import make_ema_paper_bot
from testsupport.faketelegram import FakeTelegramInThread

ALICE = 1001  # an allowed private chat
DESK = -2002  # an allowed group
STRANGER = 3003  # not allowed
TOKEN = "7012345678:AAH-fake-secret-of-the-telegram-tests"
JAN1 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def tg() -> Iterator[FakeTelegramInThread]:
    with FakeTelegramInThread(token=TOKEN, username="tp_test_bot") as fake:
        yield fake


@pytest.fixture
def telegram(tg: FakeTelegramInThread, settings) -> TelegramBot:
    settings.TELEGRAM_API_BASE_URL = tg.url
    return TelegramBot.objects.create(
        token=TOKEN, allowed_chat_ids=f"{ALICE}, {DESK}", commands_per_minute=20
    )


@pytest.fixture
def worker(telegram: TelegramBot) -> Iterator[TelegramWorker]:
    running = TelegramWorker(poll_timeout=1, notify_interval=0.1).start()
    yield running
    running.stop()
    assert not running.alive()


@pytest.fixture
def channel(tg: FakeTelegramInThread) -> NotificationChannel:
    tg.add_chat(ALICE)
    return NotificationChannel.objects.create(
        name="ops-telegram",
        kind=NotificationChannel.Kind.TELEGRAM,
        telegram_chat_ids=str(ALICE),
        events=["kill_switch", "trade_closed", "operator"],
    )


@pytest.fixture
def paper_bot(shared_data) -> Bot:
    """A running paper bot on ema_cross that the real loop took into a BTCUSDT position (the
    replay's copy, made an ordinary bot again)."""
    bot = make_ema_paper_bot("tg-src", account="paper-tg", symbols=("BTCUSDT",))
    summary = replay_bot(
        bot=bot,
        start=JAN1,
        end=datetime(2024, 1, 1, 12, tzinfo=UTC),
        label="t",
        data_dir=shared_data,
    )
    copy = Bot.objects.get(name=summary.bot)
    assert Position.objects.filter(bot=copy).exclude(quantity=0).exists()
    Bot.objects.filter(pk=copy.pk).update(
        rehearsal=False, name="tg-paper", state=Bot.State.RUNNING, state_cause="", state_reason=""
    )
    return Bot.objects.get(pk=copy.pk)


def code_in(text: str) -> str:
    found = re.search(r"/confirm (\d+)", text)
    assert found, text
    return found.group(1)


def wait_until(predicate: Callable[[], object], *, within: float = 30.0) -> None:
    """Wait for something another thread or process does (a generous bound, not a timing)."""
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.05)
