"""``manage.py fakebinance``: serve the fake Binance USDT-M futures venue until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from testsupport.fakebinance import FakeBinance


class Command(BaseCommand):
    help = "Run a local fake of Binance USDT-M futures (REST + websockets) on 127.0.0.1."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8765, help="TCP port (0 = any free one)")
        parser.add_argument("--api-key", required=True, help="the only accepted X-MBX-APIKEY")
        parser.add_argument("--api-secret", required=True, help="HMAC secret for that key")
        parser.add_argument(
            "--data-dir", default=None, help="shipped data folder (default <repo>/../shared/data)"
        )
        parser.add_argument("--seed", type=int, default=0, help="seed for the synthetic books")
        parser.add_argument("--wallet", default="10000", help="starting USDT wallet balance")

    def handle(self, *args: Any, **options: Any) -> None:
        data_dir = options["data_dir"]
        if data_dir is not None and not (Path(data_dir) / "futures").is_dir():
            raise CommandError(f"no futures/ folder under --data-dir {data_dir}")
        if not 0 <= options["port"] <= 65535:
            raise CommandError("--port must be between 0 and 65535")
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(self._serve(options))
        self.stdout.write("fake Binance stopped")

    async def _serve(self, options: dict[str, Any]) -> None:
        fake = FakeBinance(
            api_key=options["api_key"],
            api_secret=options["api_secret"],
            data_dir=options["data_dir"],
            seed=options["seed"],
            wallet=options["wallet"],
            port=options["port"],
            request_log_size=1000,
        )
        try:
            url = await fake.start()
        except OSError as exc:
            raise CommandError(f"cannot listen on 127.0.0.1:{options['port']}: {exc}") from exc
        self.stdout.write(f"fake Binance USDT-M futures at {url} (streams {fake.ws_url})")
        self.stdout.write(
            f"REST: FUTURES_URL={url}/fapi API_URL={url}/api; admin: {url}/_fake/state"
        )
        self.stdout.write("press Ctrl-C to stop")
        try:
            await asyncio.Event().wait()
        finally:
            await fake.stop()
