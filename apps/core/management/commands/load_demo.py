from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.core.demo import demo_load


class Command(BaseCommand):
    help = (
        "Create the demo paper account, instruments, strategies and the four demo bots "
        "(demo-scalp, demo-swing, demo-ai, demo-signal), and import the shipped candles they need."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--running", action="store_true", help="create the demo bots running, not paused"
        )
        parser.add_argument(
            "--data-from",
            default="",
            help="ISO date: import the shipped candles for a month from this date (with warm-up)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        start = None
        if options["data_from"]:
            try:
                start = datetime.fromisoformat(options["data_from"])
            except ValueError as exc:
                raise CommandError(
                    f"--data-from: not an ISO date: {options['data_from']!r}"
                ) from exc
            start = start if start.tzinfo else start.replace(tzinfo=UTC)
        summary = demo_load(running=options["running"], replay_start=start)
        self.stdout.write(
            f"demo loaded: {summary.instruments} instruments, "
            f"{summary.strategies_created} new strategies, {summary.bots_created} new bots"
            + (f", {summary.candles} candles available" if start else "")
        )
        if summary.data_note:
            self.stderr.write(summary.data_note)
