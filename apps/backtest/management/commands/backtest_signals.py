"""``manage.py backtest_signals FILE --bot NAME --start --end``: past webhook signals backtested.

The signals of FILE (JSON lines or CSV of TradingView alerts with their times) sent in
``[start, end)`` go through the trading runner as a worker acts on a webhook signal, against
the bot's simulated exchange over the shipped candles, in memory; nothing is written to the
database.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.backtest.exchange_mode.services import (
    ExchangeModeError,
    signal_backtest,
    summary_lines,
    trade_lines,
)
from apps.backtest.management.commands.backtest_sim import _date, bot_named


class Command(BaseCommand):
    help = (
        "Backtest a file of past webhook signals (JSON lines or CSV of TradingView alerts with "
        "a time) on a signal bot: each is acted on at its time through the same runner as a "
        "live signal, against the simulated exchange over the shipped candles; nothing is "
        "written to the database."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", type=Path, help="the signal file (.jsonl or .csv)")
        parser.add_argument("--bot", required=True, help="name of a bot with the signal strategy")
        parser.add_argument("--start", required=True, help="ISO date, e.g. 2024-01-01")
        parser.add_argument("--end", required=True, help="ISO date (exclusive)")
        parser.add_argument(
            "--data-dir", type=Path, default=None, help="default: SHARED_DATA_DIR/futures"
        )
        parser.add_argument("--trades", action="store_true", help="print every trade")
        parser.add_argument("--signals", action="store_true", help="print every signal")

    def handle(self, *args: Any, **options: Any) -> None:
        bot = bot_named(options["bot"])
        start, end = _date(options["start"]), _date(options["end"])
        folder = options["data_dir"] or Path(settings.SHARED_DATA_DIR) / "futures"
        self.stderr.write(f"backtesting {options['file']} on {bot.name} ...")
        started = time.perf_counter()
        try:
            run, outside = signal_backtest(
                bot=bot, path=options["file"], start=start, end=end, folder=folder
            )
        except ExchangeModeError as exc:
            raise CommandError(str(exc)) from exc
        seconds = time.perf_counter() - started
        if options["signals"]:
            for s in run.signals:
                self.stdout.write(
                    f"line {s.signal.line} {s.signal.time:%Y-%m-%d %H:%M} {s.signal.symbol} "
                    f"{s.signal.action:5} -> {s.outcome}"
                    + (f" ({s.blocked_by})" if s.blocked_by else "")
                    + (f": {s.detail}" if s.detail else "")
                )
        if options["trades"]:
            for line in trade_lines(run.sim):
                self.stdout.write(line)
        self.stdout.write(
            f"signals: {len(run.signals)} acted on {run.outcomes}"
            + (f"; {outside} outside the period, skipped" if outside else "")
        )
        for line in summary_lines(
            what="signal backtest",
            name=bot.name,
            start=start,
            end=end,
            result=run.sim,
            seconds=seconds,
        ):
            self.stdout.write(line)
