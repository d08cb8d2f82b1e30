"""`manage.py reconcile BOT [BOT ...] | --all`: reconcile bots with their exchange now."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apps.bots.lease import CycleBusy
from apps.bots.models import Bot
from apps.exchange.domain.errors import ExchangeError
from apps.exchange.live import NoVenue
from apps.trading.engine.reconcile import reconcile_bot_now


class Command(BaseCommand):
    help = (
        "Bring bots' orders, fills and positions up to the exchange; halt a bot whose "
        "positions disagree; re-place missing protective stops."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("bots", nargs="*", help="bot names or ids")
        parser.add_argument("--all", action="store_true", help="every enabled bot")

    def handle(self, *args: Any, **options: Any) -> None:
        bots = self._bots(options["bots"], every=options["all"])
        halted, busy = 0, []
        for bot in bots:
            self.stdout.write(f"reconciling {bot.name} ...")
            try:
                report = reconcile_bot_now(bot=bot, at=timezone.now(), wait=20)
            except CycleBusy as exc:  # the other bots are still reconciled
                self.stdout.write(self.style.WARNING(f"  skipped: busy for 20 s ({exc})"))
                busy.append(bot.name)
                continue
            except (ImproperlyConfigured, NoVenue) as exc:
                raise CommandError(str(exc)) from exc
            except ExchangeError as exc:
                raise CommandError(f"{bot.name}: exchange error: {exc}") from exc
            for note in report.notes:
                self.stdout.write(f"  {note}")
            style = self.style.ERROR if report.halted else self.style.SUCCESS
            self.stdout.write(style(report.summary()))
            halted += report.halted
        problems = [f"{halted} bot(s) halted by reconciliation"] if halted else []
        if busy:
            problems.append(f"busy for 20 s, try again: {', '.join(busy)}")
        if problems:
            raise CommandError("; ".join(problems))

    def _bots(self, names: list[str], *, every: bool) -> list[Bot]:
        if every:
            return list(Bot.objects.filter(enabled=True).select_related("account"))
        if not names:
            raise CommandError("name at least one bot, or pass --all")
        found = []
        for name in names:
            lookup = {"pk": int(name)} if name.isdigit() else {"name": name}
            bot = Bot.objects.select_related("account").filter(**lookup).first()
            if bot is None:
                raise CommandError(f"unknown bot {name!r}")
            found.append(bot)
        return found
