"""A small client of the Telegram Bot API (``getMe``, ``getUpdates``, ``sendMessage``).

The base URL comes from ``TELEGRAM_API_BASE_URL`` (default ``https://api.telegram.org``), so the
tests talk to the fake server in ``testsupport/faketelegram``. The token is part of every URL
(``/bot<token>/<method>``): no error raised here ever carries it (messages are masked and the
underlying exception is not chained, since a URL error can quote the address).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from apps.telegram.domain.secrets import mask

USER_AGENT = "tradingplatform-telegram/1"


class TelegramError(Exception):
    """A failed call. ``code`` is Telegram's error code (0: no answer, e.g. a network error);
    ``retry_after`` is set on 429 (flood control)."""

    def __init__(self, message: str, *, code: int = 0, retry_after: float | None = None):
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after

    @property
    def temporary(self) -> bool:
        return self.code in (0, 409, 429) or self.code >= 500


@dataclass(frozen=True)
class BotApi:
    base_url: str
    token: str
    timeout: float = 10.0

    def __repr__(self) -> str:  # never show the token
        return f"<BotApi {self.base_url}>"

    def _url(self, method: str) -> str:
        return f"{self.base_url.rstrip('/')}/bot{self.token}/{method}"

    def call(self, method: str, params: dict[str, Any], *, timeout: float | None = None) -> Any:
        """POST `params` as JSON to `method`; return the ``result``; raise TelegramError."""
        body = json.dumps(params).encode()
        request = urllib.request.Request(  # noqa: S310 (http(s) base URL from the settings)
            self._url(method),
            data=body,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
            method="POST",
        )
        wait = self.timeout if timeout is None else timeout
        error: TelegramError | None = None
        try:
            with urllib.request.urlopen(request, timeout=wait) as response:  # noqa: S310
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            error = self._http_error(method, exc)
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            error = TelegramError(
                mask(f"{method}: no answer ({type(exc).__name__}: {reason})", self.token)
            )
        if error is not None:
            raise error  # outside the except block: the vendor exception is not chained
        if not isinstance(answer, dict) or not answer.get("ok"):
            description = answer.get("description", "") if isinstance(answer, dict) else ""
            raise TelegramError(mask(f"{method}: refused ({description})", self.token))
        return answer.get("result")

    def _http_error(self, method: str, exc: urllib.error.HTTPError) -> TelegramError:
        description, retry_after = exc.reason, None
        try:
            answer = json.loads(exc.read() or b"{}")
            description = answer.get("description") or description
            retry_after = (answer.get("parameters") or {}).get("retry_after")
        except (ValueError, AttributeError, OSError):
            pass
        return TelegramError(
            mask(f"{method}: HTTP {exc.code} {description}", self.token),
            code=exc.code,
            retry_after=float(retry_after) if retry_after is not None else None,
        )

    def get_me(self) -> dict[str, Any]:
        return dict(self.call("getMe", {}))

    def get_updates(self, *, offset: int, timeout: int, limit: int = 100) -> list[dict[str, Any]]:
        """Long poll: wait up to `timeout` seconds for updates with ids >= `offset`."""
        params = {
            "offset": offset,
            "timeout": timeout,
            "limit": limit,
            "allowed_updates": ["message"],
        }
        return list(self.call("getUpdates", params, timeout=timeout + self.timeout) or [])

    def send_message(self, *, chat_id: int, text: str) -> dict[str, Any]:
        params = {"chat_id": chat_id, "text": text, "disable_web_page_preview": True}
        return dict(self.call("sendMessage", params))
