"""``manage.py faketelegram``: serve the fake Telegram Bot API until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from testsupport.faketelegram import FakeTelegram


class Command(BaseCommand):
    help = "Run a local fake of the Telegram Bot API (getMe, getUpdates, sendMessage)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8766, help="TCP port (0 = any free one)")
        parser.add_argument("--token", required=True, help="the only accepted bot token")
        parser.add_argument("--username", default="fake_trading_bot", help="the bot's @name")

    def handle(self, *args: Any, **options: Any) -> None:
        if not 0 <= options["port"] <= 65535:
            raise CommandError("--port must be between 0 and 65535")
        if ":" not in options["token"]:
            raise CommandError("--token must look like 123456:secret")
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(self._serve(options))
        self.stdout.write("fake Telegram stopped")

    async def _serve(self, options: dict[str, Any]) -> None:
        fake = FakeTelegram(
            token=options["token"], username=options["username"], port=options["port"]
        )
        try:
            url = await fake.start()
        except OSError as exc:
            raise CommandError(f"cannot listen on 127.0.0.1:{options['port']}: {exc}") from exc
        self.stdout.write(f"fake Telegram Bot API at {url} (TELEGRAM_API_BASE_URL={url})")
        self.stdout.write(
            f'inject: POST {url}/_fake/messages {{"chat_id": 1, "text": "/status"}}; '
            f"read: GET {url}/_fake/sent; Ctrl-C stops"
        )
        try:
            await asyncio.Event().wait()
        finally:
            await fake.stop()
