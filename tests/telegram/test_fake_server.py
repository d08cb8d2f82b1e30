"""The fake Telegram Bot API behaves as Telegram does for what the platform uses, spoken to by
the platform's own client over HTTP."""

from __future__ import annotations

import threading

import pytest

from apps.telegram.client import BotApi, TelegramError
from testsupport.faketelegram import FakeTelegramInThread

TOKEN = "555:fake-server-secret-token"


@pytest.fixture(scope="module")
def tg():
    with FakeTelegramInThread(token=TOKEN, username="srv_bot") as fake:
        yield fake


def test_wrong_token_is_401_and_the_error_never_holds_it(tg) -> None:
    wrong = "555:another-secret-token"
    with pytest.raises(TelegramError) as caught:
        BotApi(base_url=tg.url, token=wrong).get_me()
    assert caught.value.code == 401 and "Unauthorized" in str(caught.value)
    assert wrong not in str(caught.value) and "another-secret" not in repr(caught.value)
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_long_poll_returns_injected_message_and_offset_confirms(tg) -> None:
    api = BotApi(base_url=tg.url, token=TOKEN)
    assert api.get_me()["username"] == "srv_bot"
    first = tg.say(42, "/status", username="alice")
    [update] = api.get_updates(offset=0, timeout=1)
    assert update["update_id"] == first and update["message"]["text"] == "/status"
    assert (
        update["message"]["chat"]["id"] == 42 and update["message"]["from"]["username"] == "alice"
    )
    got: list = []
    waiter = threading.Thread(
        target=lambda: got.extend(api.get_updates(offset=first + 1, timeout=20))
    )
    waiter.start()
    second = tg.say(42, "/help")
    waiter.join(30)
    assert [u["update_id"] for u in got] == [second]  # the first was confirmed by the offset
    assert api.get_updates(offset=second + 1, timeout=0) == []


def test_second_poller_ends_the_first_with_409(tg) -> None:
    api = BotApi(base_url=tg.url, token=TOKEN)
    errors: list[TelegramError] = []

    def first() -> None:
        try:
            api.get_updates(offset=10**6, timeout=20)
        except TelegramError as exc:
            errors.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    while not any(c.get("offset") == 10**6 for c in tg.calls("getUpdates")):
        thread.join(0.05)
    api.get_updates(offset=10**6, timeout=0)
    thread.join(30)
    assert [e.code for e in errors] == [409] and "Conflict" in str(errors[0])


def test_send_message_needs_a_known_chat_and_text_and_is_kept(tg) -> None:
    api = BotApi(base_url=tg.url, token=TOKEN)
    with pytest.raises(TelegramError, match="chat not found"):
        api.send_message(chat_id=999, text="hello")
    tg.add_chat(999)
    with pytest.raises(TelegramError, match="message text is empty"):
        api.send_message(chat_id=999, text=" ")
    sent = api.send_message(chat_id=999, text="hello")
    assert sent["chat"]["id"] == 999 and tg.sent(999)[-1].text == "hello"


def test_injected_429_carries_retry_after(tg) -> None:
    tg.add_chat(5)
    tg.fail("sendMessage", status=429, retry_after=3)
    api = BotApi(base_url=tg.url, token=TOKEN)
    with pytest.raises(TelegramError) as caught:
        api.send_message(chat_id=5, text="x")
    assert caught.value.code == 429 and caught.value.retry_after == 3 and caught.value.temporary
    api.send_message(chat_id=5, text="x")  # only the next call failed
