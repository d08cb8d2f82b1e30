from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from apps.bots.models import Bot
from apps.core.domain.formatting import fmt_money, fmt_pct
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

        bar = tqdm(desc="replay", unit="candle", file=sys.stderr, disable=not sys.stderr.isatty())

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            with logging_redirect_tqdm():  # log lines above the bar, never through it
                summary = replay_bot(bot=bot, start=start, end=end, label=label, progress=progress)
        except (ReplayError, MarketDataError) as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        rate = fmt_pct(summary.win_rate) if summary.win_rate is not None else "n/a"
        outcomes = ", ".join(f"{k or 'none'} {v}" for k, v in sorted(summary.outcomes.items()))
        blocked = ", ".join(f"{k} {v}" for k, v in sorted(summary.blocked.items())) or "none"
        self.stdout.write(
            f"replayed {bot.name} as {summary.bot} (paused now, kept for review) from "
            f"{start:%Y-%m-%d} to {end:%Y-%m-%d} in {time.perf_counter() - started:.1f} s\n"
            f"  cycles   {summary.cycles} ({outcomes})\n"
            f"  trades   {summary.trades} ({summary.closed} closed, win rate {rate})\n"
            f"  net PnL  {fmt_money(summary.net_pnl)} USDT (fees {fmt_money(summary.fees)})\n"
            f"  blocked  {blocked}"
        )
