from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.market.data import MarketDataError, load_klines
from apps.strategies.domain.base import StrategyError
from apps.strategies.domain.lookahead import find_lookahead
from apps.strategies.domain.params import ParameterError
from apps.strategies.domain.registry import build_strategy


class Command(BaseCommand):
    help = (
        "Look-ahead check: rerun a strategy on truncated data and report every signal that "
        "changes (a signal that changes when later candles are removed peeked at the future)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--strategy", required=True, help="strategy kind, e.g. trend_swing")
        parser.add_argument("--params", default="{}", help="strategy parameters as JSON")
        parser.add_argument("--data", required=True, metavar="FILE", help="one kline file")
        parser.add_argument("--candles", type=int, default=5000, help="use the last N candles")
        parser.add_argument("--cuts", type=int, default=20, help="how many truncation points")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            strategy = build_strategy(options["strategy"], json.loads(options["params"]))
            klines = load_klines(options["data"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--params is not JSON: {exc}") from exc
        except (ParameterError, ValueError, KeyError, MarketDataError) as exc:
            raise CommandError(str(exc).strip("'")) from exc
        window = klines.slice(max(0, len(klines) - options["candles"]), None)
        try:
            diffs = find_lookahead(strategy, window, count=options["cuts"])
        except StrategyError as exc:
            raise CommandError(str(exc)) from exc
        for d in diffs:
            self.stdout.write(
                f"candle {int(window.open_time[d.index])} {d.column}: {d.full_value} with the "
                f"whole data, {d.truncated_value} when later candles are removed"
            )
        if diffs:
            raise CommandError(f"{len(diffs)} signal(s) change on truncated data: look-ahead")
        self.stdout.write(
            f"no look-ahead: {options['strategy']} gave the same signals on {options['cuts']} "
            f"truncations of {len(window):,} candles"
        )
