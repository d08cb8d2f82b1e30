from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.market.clock import market_now
from apps.trading.engine import killswitch_engage


class Command(BaseCommand):
    help = (
        "Emergency close: cancel all orders, close all positions reduce-only at market and halt "
        "the bots named with --bot (or every bot with --all)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--bot", action="append", default=[], help="bot name (repeatable)")
        parser.add_argument("--all", action="store_true", help="every bot")
        parser.add_argument("--reason", default="manual kill switch (command line)")

    def handle(self, *args: Any, **options: Any) -> None:
        if bool(options["bot"]) == options["all"]:
            raise CommandError("name the bots with --bot NAME, or pass --all for every bot")
        try:
            reports = killswitch_engage(
                reason=options["reason"], now=market_now(), bot_names=options["bot"] or None
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        for r in reports:
            self.stdout.write(
                f"{r.bot}: canceled {r.orders_canceled} order(s), closed {r.positions_closed} "
                f"position(s); left open: {r.open_orders_left} order(s), "
                f"{r.open_positions_left} position(s); halted"
                + (f"; FAILED: {r.error}" if r.error else "")
            )
            for note in r.notes:
                self.stdout.write(f"  {note}")
        if any(r.open_orders_left or r.open_positions_left or r.error for r in reports):
            raise CommandError("something is still open: check the exchange")
