"""The fake Telegram server in a background thread, with blocking helpers for sync tests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from testsupport.faketelegram.server import FakeTelegram, SentMessage


class FakeTelegramInThread:
    """``with FakeTelegramInThread() as tg:`` serves a :class:`FakeTelegram` on loopback from
    its own event loop; ``tg.url`` is the Bot API base URL to configure."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.fake: FakeTelegram | None = None
        self.thread = threading.Thread(target=self._run, name="fake-telegram", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.fake = FakeTelegram(**self.kwargs)
        self.loop.run_until_complete(self.fake.start())
        self.ready.set()
        self.loop.run_forever()

    def __enter__(self) -> FakeTelegramInThread:
        self.thread.start()
        if not self.ready.wait(30):
            raise RuntimeError("the fake Telegram server did not start within 30 s")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.fake is not None
        asyncio.run_coroutine_threadsafe(self.fake.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    # -- helpers ----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self.fake is not None
        return self.fake.url

    @property
    def token(self) -> str:
        assert self.fake is not None
        return self.fake.token

    def _call(self, make: Callable[[FakeTelegram], Any]) -> Any:
        assert self.fake is not None
        fake = self.fake

        async def run() -> Any:
            result = make(fake)
            return await result if asyncio.iscoroutine(result) else result

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def say(self, chat_id: int, text: str, *, username: str = "trader") -> int:
        """A user writes `text` in `chat_id`; return the update id."""
        return int(self._call(lambda f: f.inject(chat_id=chat_id, text=text, username=username)))

    def add_chat(self, chat_id: int) -> None:
        self._call(lambda f: f.add_chat(chat_id))

    def fail(self, method: str, *, status: int, retry_after: int | None = None, times: int = 1):
        self._call(lambda f: f.fail(method, status=status, retry_after=retry_after, times=times))

    def sent(self, chat_id: int | None = None) -> list[SentMessage]:
        messages = list(self._call(lambda f: list(f.sent)))
        return [m for m in messages if chat_id is None or m.chat_id == chat_id]

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        calls = list(self._call(lambda f: list(f.calls)))
        return [params for name, params in calls if method is None or name == method]

    def wait_sent(
        self,
        predicate: Callable[[SentMessage], bool],
        *,
        chat_id: int | None = None,
        within: float = 30.0,
    ) -> SentMessage:
        """The first message sent (to `chat_id`) that `predicate` accepts; AssertionError with
        what was sent if none came within `within` seconds (a generous bound, not a timing)."""
        deadline = time.monotonic() + within
        while True:
            for message in self.sent(chat_id):
                if predicate(message):
                    return message
            if time.monotonic() > deadline:
                texts = [m.text[:120] for m in self.sent()]
                raise AssertionError(f"no matching message was sent; sent: {texts}")
            time.sleep(0.05)
