from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apps.core.demo import demo_load


class Command(BaseCommand):
    help = "Create the demo paper account, instruments, strategies and the three demo bots."

    def handle(self, *args: Any, **options: Any) -> None:
        summary = demo_load()
        self.stdout.write(
            f"demo loaded: {summary.instruments} instruments, "
            f"{summary.strategies_created} new strategies, {summary.bots_created} new bots"
        )
