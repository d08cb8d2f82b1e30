"""The aiohttp application of the fake Telegram Bot API.

Served on 127.0.0.1 (``port=0``: a free port). Bot API calls are ``GET`` or ``POST`` to
``/bot<token>/<method>`` with parameters in the query string, a form or a JSON body, answered
as Telegram answers them: ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code",
"description"[, "parameters": {"retry_after"}]}``.

- Only the configured token is accepted (others: 401 Unauthorized); unknown methods: 404.
- ``getUpdates``: updates with ``update_id >= offset`` (a given offset confirms, and forgets,
  the ones before it); waits up to ``timeout`` seconds for one when there are none. A second
  ``getUpdates`` while one waits ends the first with 409 Conflict, as Telegram does.
- ``sendMessage``: needs a ``chat_id`` the bot knows (a chat that wrote to it, or one added
  with ``add_chat``; otherwise 400 "chat not found") and a non-empty ``text`` of at most 4096
  characters. Every message sent is kept for the tests.
- Control (no token): ``POST /_fake/messages`` ``{"chat_id", "text", "username"}`` injects a
  user message; ``GET /_fake/sent`` lists what the bot sent; ``POST /_fake/fail`` ``{"method",
  "status", "retry_after", "times"}`` makes the next calls fail.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

MAX_TEXT = 4096
MAX_TIMEOUT_S = 50


@dataclass(frozen=True, slots=True)
class SentMessage:
    message_id: int
    chat_id: int
    text: str
    at: float


@dataclass
class _Failure:
    status: int
    retry_after: int | None
    times: int


class _ApiError(Exception):
    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after


class FakeTelegram:
    def __init__(
        self,
        *,
        token: str = "123456:fake-telegram-token",  # noqa: S107 - a test double's default
        username: str = "fake_trading_bot",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.token = token
        self.username = username
        self.host, self.port = host, port
        self.bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 1
        self.updates: deque[dict[str, Any]] = deque()
        self.sent: list[SentMessage] = []
        self.chats: set[int] = set()
        self.calls: list[tuple[str, dict[str, Any]]] = []  # (method, params), for the tests
        self._ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._arrived = asyncio.Event()
        self._poller: asyncio.Future[None] | None = None
        self._failures: dict[str, _Failure] = {}
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- lifecycle --------------------------------------------------------------------------------
    def _build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_post("/_fake/messages", self._control_inject)
        app.router.add_get("/_fake/sent", self._control_sent)
        app.router.add_post("/_fake/fail", self._control_fail)
        return app

    async def start(self) -> str:
        self._arrived = asyncio.Event()
        # no access log: it would print every URL, and every URL holds the token
        self._runner = web.AppRunner(self._build_app(), access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- test side --------------------------------------------------------------------------------
    async def inject(self, *, chat_id: int, text: str, username: str = "trader") -> int:
        """A user writes `text` in chat `chat_id`; return the update id."""
        update_id = next(self._ids)
        self.chats.add(chat_id)
        self.updates.append(
            {
                "update_id": update_id,
                "message": {
                    "message_id": next(self._message_ids),
                    "from": {
                        "id": abs(chat_id),
                        "is_bot": False,
                        "first_name": username.title(),
                        "username": username,
                    },
                    "chat": {
                        "id": chat_id,
                        "type": "private" if chat_id > 0 else "group",
                        "username": username,
                    },
                    "date": int(time.time()),
                    "text": text,
                },
            }
        )
        self._arrived.set()  # wakes the waiting long poll
        self._arrived = asyncio.Event()
        return update_id

    def add_chat(self, chat_id: int) -> None:
        """Let the bot send to `chat_id` without that chat having written first."""
        self.chats.add(chat_id)

    def fail(self, method: str, *, status: int, retry_after: int | None = None, times: int = 1):
        self._failures[method] = _Failure(status, retry_after, times)

    # -- Bot API ----------------------------------------------------------------------------------
    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if not isinstance(body, dict):
                    raise _ApiError(400, "Bad Request: the body is not a JSON object")
                params.update(body)
            else:
                params.update(dict(await request.post()))
        return params

    async def _api(self, request: web.Request) -> web.Response:
        try:
            if request.match_info["token"] != self.token:
                raise _ApiError(401, "Unauthorized")
            method = request.match_info["method"]
            handler = {
                "getMe": self._get_me,
                "getUpdates": self._get_updates,
                "sendMessage": self._send_message,
            }.get(method)
            if handler is None:
                raise _ApiError(404, "Not Found")
            params = await self._params(request)
            self.calls.append((method, params))
            failure = self._failures.get(method)
            if failure is not None and failure.times > 0:
                failure.times -= 1
                description = "Too Many Requests" if failure.status == 429 else "Injected fault"
                raise _ApiError(failure.status, description, failure.retry_after)
            result = await handler(params)
        except _ApiError as exc:
            body: dict[str, Any] = {
                "ok": False,
                "error_code": exc.status,
                "description": exc.description,
            }
            if exc.retry_after is not None:
                body["parameters"] = {"retry_after": exc.retry_after}
            return web.json_response(body, status=exc.status)
        except (ValueError, json.JSONDecodeError) as exc:
            body = {"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"}
            return web.json_response(body, status=400)
        return web.json_response({"ok": True, "result": result})

    async def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Fake trading bot",
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        limit = max(1, min(100, int(params.get("limit") or 100)))
        timeout = max(0, min(MAX_TIMEOUT_S, int(params.get("timeout") or 0)))
        if offset:
            while self.updates and self.updates[0]["update_id"] < offset:
                self.updates.popleft()  # confirmed: never returned again
        if self._poller is not None and not self._poller.done():
            self._poller.set_result(None)  # the earlier long poll ends with 409
        me: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._poller = me
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.updates and not me.done():
            left = deadline - loop.time()
            if left <= 0:
                break
            arrived = asyncio.ensure_future(self._arrived.wait())
            await asyncio.wait({arrived, me}, timeout=left, return_when="FIRST_COMPLETED")
            arrived.cancel()
        if me.done() and self._poller is not me:
            raise _ApiError(
                409,
                "Conflict: terminated by other getUpdates request; make sure that only one bot "
                "instance is running",
            )
        self._poller = None
        return list(itertools.islice(self.updates, limit))

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        try:
            chat_id = int(params.get("chat_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise _ApiError(400, "Bad Request: chat_id is empty") from None
        text = str(params.get("text") or "")
        if not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT:
            raise _ApiError(400, "Bad Request: message is too long")
        if chat_id not in self.chats:
            raise _ApiError(400, "Bad Request: chat not found")
        message = SentMessage(next(self._message_ids), chat_id, text, time.time())
        self.sent.append(message)
        return {
            "message_id": message.message_id,
            "from": {"id": self.bot_id, "is_bot": True, "username": self.username},
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "date": int(message.at),
            "text": text,
        }

    # -- control API ------------------------------------------------------------------------------
    async def _control_inject(self, request: web.Request) -> web.Response:
        body = await request.json()
        update_id = await self.inject(
            chat_id=int(body["chat_id"]),
            text=str(body["text"]),
            username=str(body.get("username") or "trader"),
        )
        return web.json_response({"update_id": update_id})

    async def _control_sent(self, request: web.Request) -> web.Response:
        return web.json_response([asdict(m) for m in self.sent])

    async def _control_fail(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.fail(
            str(body["method"]),
            status=int(body.get("status", 500)),
            retry_after=body.get("retry_after"),
            times=int(body.get("times", 1)),
        )
        return web.json_response({"ok": True})
