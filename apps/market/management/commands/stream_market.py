from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.exchange.live import NoVenue, binance_config
from apps.exchange.models import ExchangeAccount


class Command(BaseCommand):
    help = (
        "Stream closed candles and book tickers of an exchange account's venue into the "
        "database and the cache, until interrupted (one streamer per account)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", required=True, help="exchange account name")
        parser.add_argument("--symbols", nargs="+", required=True)
        parser.add_argument("--interval", default="1m")

    def handle(self, *args: Any, **options: Any) -> None:
        from apps.exchange.binance.adapter import BinanceFuturesExchange
        from apps.market.streamer import stream_market

        try:
            account = ExchangeAccount.objects.get(name=options["account"])
            config = binance_config(account)
        except ExchangeAccount.DoesNotExist as exc:
            raise CommandError(f"no exchange account named {options['account']!r}") from exc
        except NoVenue as exc:
            raise CommandError(str(exc)) from exc
        symbols = [s.upper() for s in options["symbols"]]

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError):
                    loop.add_signal_handler(sig, stop.set)
            exchange = await BinanceFuturesExchange.create(config)
            try:
                self.stdout.write(f"streaming {', '.join(symbols)} {options['interval']} ...")
                stats = await stream_market(
                    exchange=exchange, symbols=symbols, interval=options["interval"], stop=stop
                )
            finally:
                await exchange.close()
            self.stdout.write(
                f"stopped: {stats.candles} candles, {stats.book_tickers} book tickers, "
                f"{stats.reconnects} reconnects"
            )

        asyncio.run(main())
