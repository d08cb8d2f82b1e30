"""The Telegram bot end to end: the real worker (poller and notifier threads, the real HTTP
client) against the fake Telegram Bot API server on loopback, over the real database."""

from __future__ import annotations

import logging

import pytest

from apps.bots.models import Bot
from apps.orders.models import Order
from apps.telegram.models import CommandRecord, KillSwitchRequest, TelegramBot
from apps.trading.models import Position
from tests.factories import make_ema_paper_bot
from tests.telegram.conftest import ALICE, DESK, STRANGER, TOKEN, code_in, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _answer(tg, chat_id: int, text: str, expect: str, *, username: str = "alice") -> str:
    """Say `text` in `chat_id` and return the first message the bot sends there afterwards
    that contains `expect` (notifications to the same chat may come in between)."""
    before = len(tg.sent(chat_id))
    tg.say(chat_id, text, username=username)
    return tg.wait_sent(
        lambda m: expect in m.text and tg.sent(chat_id).index(m) >= before, chat_id=chat_id
    ).text


def test_commands_answer_from_real_data_and_pause_resume_record_the_actor(
    tg, worker, paper_bot
) -> None:
    position = Position.objects.filter(bot=paper_bot).exclude(quantity=0).get()
    status = _answer(tg, ALICE, "/status", "Bots (2):")
    assert "tg-paper: running; paper; 1 open; today " in status
    assert "tg-src: paused" in status
    positions = _answer(tg, ALICE, "/positions", "Open positions (1):")
    entry = f"{position.entry_price.normalize():f}"
    assert f"tg-paper BTCUSDT {position.side} " in positions and f"@ {entry}" in positions
    balance = _answer(tg, DESK, "/balance", "Equity (USDT):", username="bob")
    assert "tg-paper (paper-tg): " in balance and "All bots: " in balance
    profit = _answer(tg, DESK, "/profit@tp_test_bot", "Net PnL of closed trades", username="bob")
    assert "All: total " in profit
    assert "/killswitch [BOT]" in _answer(tg, ALICE, "/help", "Commands:")
    polls = tg.calls("getUpdates")
    assert polls[-1]["timeout"] == 1 and polls[-1]["offset"] > polls[0]["offset"]

    reply = _answer(tg, ALICE, "/pause tg-paper", "Paused tg-paper")
    assert "keep their stops" in reply
    paper_bot.refresh_from_db()
    assert paper_bot.state == Bot.State.PAUSED
    assert paper_bot.state_cause == Bot.Cause.OPERATOR
    assert paper_bot.state_reason == f"paused by telegram:{ALICE}/alice"
    record = CommandRecord.objects.get(text="/pause tg-paper")
    assert record.actor == f"telegram:{ALICE}/alice" and record.outcome == "done"

    _answer(tg, ALICE, "/pause nobody", "Unknown bot: nobody. Bots: tg-paper, tg-src.")
    _answer(tg, ALICE, "/pause", "Usage: /pause BOT")
    _answer(tg, ALICE, "/resume tg-paper", "Resumed tg-paper")
    paper_bot.refresh_from_db()
    assert paper_bot.state == Bot.State.RUNNING
    Bot.objects.filter(pk=paper_bot.pk).update(enabled=False)
    _answer(tg, ALICE, "/resume tg-paper", "is disabled")
    assert CommandRecord.objects.filter(outcome="refused").count() == 3


def test_killswitch_needs_confirmation_then_flattens_and_notifies(
    tg, worker, paper_bot, channel
) -> None:
    expiring = code_in(_answer(tg, ALICE, "/killswitch", "Kill switch for ALL bots"))
    KillSwitchRequest.objects.update(expires_at=KillSwitchRequest.objects.get().created_at)
    _answer(tg, ALICE, f"/confirm {expiring}", f"Code {expiring} expired")

    prompt = _answer(tg, ALICE, "/killswitch tg-paper", "To go ahead send /confirm")
    assert "Kill switch for tg-paper" in prompt and "within 60 s" in prompt
    code = code_in(prompt)
    paper_bot.refresh_from_db()
    assert paper_bot.state == Bot.State.RUNNING  # nothing happens before the confirmation
    assert Position.objects.filter(bot=paper_bot).exclude(quantity=0).exists()
    wrong = "000000" if code != "000000" else "111111"
    _answer(tg, ALICE, f"/confirm {wrong}", "No kill switch is waiting")
    _answer(tg, DESK, f"/confirm {code}", "No kill switch is waiting", username="bob")

    done = _answer(tg, ALICE, f"/confirm {code}", "Kill switch done")
    assert "tg-paper: canceled " in done and "closed 1 position(s)" in done
    assert "left open 0 order(s) / 0 position(s); halted" in done
    paper_bot.refresh_from_db()
    assert paper_bot.state == Bot.State.HALTED
    assert paper_bot.state_cause == Bot.Cause.KILL_SWITCH
    assert f"requested from Telegram (telegram:{ALICE}/alice)" in paper_bot.state_reason
    assert not Position.objects.filter(bot=paper_bot).exclude(quantity=0).exists()
    assert not Order.objects.filter(bot=paper_bot, status__in=["NEW", "PARTIALLY_FILLED"]).exists()
    _answer(tg, ALICE, f"/confirm {code}", "No kill switch is waiting")  # used once only
    src = Bot.objects.get(name="tg-src")
    assert src.state == Bot.State.PAUSED and src.state_cause != Bot.Cause.KILL_SWITCH

    # the notifier told the channel's chat about the kill switch and the trade it closed
    tg.wait_sent(lambda m: m.text.startswith("KILL SWITCH: tg-paper halted"), chat_id=ALICE)
    closed = tg.wait_sent(lambda m: m.text.startswith("Trade closed: tg-paper"), chat_id=ALICE)
    assert "PnL " in closed.text and " USDT" in closed.text and "kill switch" in closed.text


def test_strangers_get_nothing_a_flood_is_cut_and_the_token_is_never_logged(
    tg, worker, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    make_ema_paper_bot("tg-idle", account="paper-tg", symbols=("BTCUSDT",))
    tg.say(STRANGER, "/status", username="mallory")
    tg.say(STRANGER, "/killswitch", username="mallory")
    _answer(tg, ALICE, "/help", "Commands:")  # processed after the stranger's messages
    assert tg.sent(STRANGER) == []
    assert not CommandRecord.objects.filter(chat_id=STRANGER).exists()
    assert not KillSwitchRequest.objects.exists()

    TelegramBot.objects.update(commands_per_minute=3)
    _answer(tg, ALICE, "/help", "Commands:")  # the poller has read the new limit by now
    for _ in range(8):
        tg.say(DESK, "/help", username="bob")
    _answer(tg, ALICE, "/status", "tg-idle: paused")  # the flood is processed by now
    texts = [m.text for m in tg.sent(DESK)]
    assert sum(t.startswith("Commands:") for t in texts) == 3
    assert len(texts) == 4 and texts[3].startswith("Too many commands: at most 3 a minute")
    assert CommandRecord.objects.filter(chat_id=DESK, outcome="flooded").count() == 1

    tg.fail("getUpdates", status=502, times=1)  # the poller logs the failure and goes on
    _answer(tg, ALICE, "/pause tg-idle", "Paused")
    config = TelegramBot.objects.get()
    config.token = "7012345678:AAH-a-wrong-token-that-is-refused"
    config.save()
    wait_until(lambda: "HTTP 401" in TelegramBot.objects.get().last_error)
    logged = caplog.text + "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert "getUpdates: HTTP 502" in logged
    assert "getUpdates: HTTP 401 Unauthorized" in logged
    assert TOKEN not in logged and TOKEN.split(":", 1)[1] not in logged
    assert "AAH-a-wrong-token" not in logged
