"""Generate a bot's webhook passphrase, store it hashed, and print it once."""

from __future__ import annotations

import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.bots.models import Bot
from apps.webhook.domain.security import hash_secret


class Command(BaseCommand):
    help = (
        "Generate a new webhook passphrase for a bot (replacing its previous one), store it "
        "hashed and print it once: paste it into the TradingView alert's passphrase field."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("bot", help="the bot's name")
        parser.add_argument("--clear", action="store_true", help="remove the bot's passphrase")

    def handle(self, *args: Any, **options: Any) -> None:
        bot = Bot.objects.filter(name=options["bot"]).first()
        if bot is None:
            raise CommandError(f"unknown bot {options['bot']!r}")
        if options["clear"]:
            bot.webhook_secret_hash = ""
            bot.save(update_fields=["webhook_secret_hash", "updated_at"])
            self.stdout.write(f"bot {bot.name}: own webhook passphrase removed")
            return
        passphrase = secrets.token_urlsafe(32)
        bot.webhook_secret_hash = hash_secret(passphrase)
        bot.save(update_fields=["webhook_secret_hash", "updated_at"])
        self.stdout.write(f"bot {bot.name}: new webhook passphrase (shown once): {passphrase}")
