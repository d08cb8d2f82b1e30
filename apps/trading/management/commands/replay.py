from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.bots.models import Bot
from apps.market.data import MarketDataError
from apps.trading.replay import ReplayError, replay_bot


def _date(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"not an ISO date: {value!r} (e.g. 2025-06-01)") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Rehearse a bot: run its real paper-trading loop (same tasks, services, database writes "
        "and simulated exchange) over historical candles as fast as it can, on a paper copy."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--bot", required=True, help="name of the bot to rehearse")
        parser.add_argument("--start", required=True, help="ISO date, e.g. 2025-06-01")
        parser.add_argument("--end", required=True, help="ISO date (exclusive)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            bot = Bot.objects.select_related("strategy").get(name=options["bot"])
        except Bot.DoesNotExist as exc:
            raise CommandError(f"no bot named {options['bot']!r}") from exc
        start, end = _date(options["start"]), _date(options["end"])
        label = f"replay-{datetime.now(tz=UTC):%Y%m%d%H%M%S}"
        started = time.perf_counter()

        def progress(done: int, total: int) -> None:
            width = 30
            filled = int(width * done / total) if total else width
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} candles")
            sys.stderr.flush()

        try:
            summary = replay_bot(bot=bot, start=start, end=end, label=label, progress=progress)
        except (ReplayError, MarketDataError) as exc:
            raise CommandError(str(exc)) from exc
        sys.stderr.write("\n")
        rate = f"{summary.win_rate:.1%}" if summary.win_rate is not None else "n/a"
        self.stdout.write(
            f"replayed {bot.name} as {summary.bot} from {start:%Y-%m-%d} to {end:%Y-%m-%d} "
            f"in {time.perf_counter() - started:.1f} s: {summary.cycles} cycles "
            f"{summary.outcomes}; trades {summary.trades} ({summary.closed} closed, win rate "
            f"{rate}); net PnL {summary.net_pnl:.2f} USDT, fees {summary.fees:.2f}; "
            f"blocked entries {summary.blocked or 'none'}"
        )
