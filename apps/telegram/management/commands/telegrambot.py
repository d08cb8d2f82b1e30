"""``manage.py telegrambot``: run the Telegram worker (commands by long polling, notifications)
until Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.telegram.client import TelegramError
from apps.telegram.selectors import telegram_api, telegram_bot_get
from apps.telegram.worker import TelegramWorker


class Command(BaseCommand):
    help = (
        "Run the Telegram worker: answer commands from the allowed chats (getUpdates long "
        "polling, no public URL needed) and deliver notifications to every channel."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--poll-timeout",
            type=int,
            default=None,
            help=f"long-poll seconds (default TELEGRAM_POLL_TIMEOUT_S, "
            f"{settings.TELEGRAM_POLL_TIMEOUT_S})",
        )
        parser.add_argument(
            "--check", action="store_true", help="ask Telegram who the bot is (getMe) and exit"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        timeout = options["poll_timeout"]
        if timeout is not None and not 0 <= timeout <= 50:
            raise CommandError("--poll-timeout must be between 0 and 50 seconds")
        config = telegram_bot_get()
        api = telegram_api(config)
        base = settings.TELEGRAM_API_BASE_URL
        if options["check"]:
            if api is None:
                raise CommandError(self._no_bot())
            try:
                me = api.get_me()
            except TelegramError as exc:
                raise CommandError(f"Telegram at {base}: {exc}") from None
            self.stdout.write(f"@{me.get('username')} answers at {base}")
            return
        if api is None:
            self.stdout.write(f"{self._no_bot()}; delivering notifications meanwhile")
        else:
            allowed = len(config.allowed) if config is not None else 0
            self.stdout.write(f"polling {base} for commands from {allowed} allowed chat(s)")
        worker = TelegramWorker(poll_timeout=timeout)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: worker.stopping.set())
        worker.start()
        self.stdout.write("Telegram worker running; Ctrl-C stops")
        self.stdout.flush()
        while not worker.stopping.wait(1.0):
            pass
        worker.stop()
        self.stdout.write("Telegram worker stopped")

    @staticmethod
    def _no_bot() -> str:
        return (
            "no enabled Telegram bot with a token: add one in the admin (Telegram bot) or set "
            "TELEGRAM_BOT_TOKEN"
        )
