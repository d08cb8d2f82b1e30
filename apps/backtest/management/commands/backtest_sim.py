"""``manage.py backtest_sim``: a bot's exchange-mode backtest over the shipped candle files."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.backtest.exchange_mode.domain import run_exchange_backtest
from apps.backtest.exchange_mode.services import (
    ExchangeModeError,
    exchange_mode_inputs,
    summary_lines,
    trade_lines,
)
from apps.bots.models import Bot


def _date(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"not an ISO date: {value!r} (e.g. 2024-01-01)") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def bot_named(name: str) -> Bot:
    try:
        return Bot.objects.select_related("strategy", "account").get(name=name)
    except Bot.DoesNotExist as exc:
        raise CommandError(f"no bot named {name!r}") from exc


class Command(BaseCommand):
    help = (
        "Backtest a bot in exchange mode: its paper-trading loop (same strategy, risk gate, "
        "execution plan and simulated exchange) over the shipped candles, in memory; nothing "
        "is written to the database."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--bot", required=True, help="name of the bot to backtest")
        parser.add_argument("--start", required=True, help="ISO date, e.g. 2024-01-01")
        parser.add_argument("--end", required=True, help="ISO date (exclusive)")
        parser.add_argument(
            "--data-dir", type=Path, default=None, help="default: SHARED_DATA_DIR/futures"
        )
        parser.add_argument("--trades", action="store_true", help="print every trade")

    def handle(self, *args: Any, **options: Any) -> None:
        bot = bot_named(options["bot"])
        start, end = _date(options["start"]), _date(options["end"])
        folder = options["data_dir"] or Path(settings.SHARED_DATA_DIR) / "futures"
        try:
            inputs = exchange_mode_inputs(bot=bot, start=start, end=end, folder=folder)
            started = time.perf_counter()
            result = run_exchange_backtest(
                inputs.config, inputs.candles, inputs.funding, hourly=inputs.hourly
            )
        except (ExchangeModeError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        seconds = time.perf_counter() - started
        if options["trades"]:
            for line in trade_lines(result):
                self.stdout.write(line)
        for line in summary_lines(
            what="exchange-mode backtest",
            name=bot.name,
            start=start,
            end=end,
            result=result,
            seconds=seconds,
        ):
            self.stdout.write(line)
