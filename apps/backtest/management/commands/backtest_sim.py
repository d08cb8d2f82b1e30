"""``manage.py backtest_sim``: a bot's exchange-mode backtest over the shipped candle files."""

from __future__ import annotations

import csv
import gzip
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.backtest.domain.sim import SimConfig, candles_from_rows, run_exchange_backtest
from apps.bots.models import Bot
from apps.exchange.domain.types import Candle, datetime_to_ms, ms_to_datetime
from apps.exchange.models import Instrument
from apps.market.data import MarketDataError, load_funding
from apps.market.domain.candles import interval_to_ms
from apps.risk.models import RiskSettings
from apps.strategies.domain.registry import build_strategy
from apps.trading.engine.context import bot_profile
from apps.trading.paper import instrument_info

VIX_SYMBOL = "BTCUSDT"


def _date(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"not an ISO date: {value!r} (e.g. 2024-01-01)") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _candles(path: Path, interval: str, start: datetime, end: datetime) -> list[Candle]:
    if not path.exists():
        raise CommandError(f"no candle file {path}")
    with gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as handle:
        return candles_from_rows(
            csv.DictReader(handle), interval, datetime_to_ms(start), datetime_to_ms(end)
        )


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
        try:
            bot = Bot.objects.select_related("strategy", "account").get(name=options["bot"])
        except Bot.DoesNotExist as exc:
            raise CommandError(f"no bot named {options['bot']!r}") from exc
        start, end = _date(options["start"]), _date(options["end"])
        if end <= start:
            raise CommandError("the end must come after the start")
        folder = options["data_dir"] or Path(settings.SHARED_DATA_DIR) / "futures"
        risk = RiskSettings.objects.filter(bot=bot).first() or RiskSettings(bot=bot)
        profile = bot_profile(bot, risk)
        interval = bot.strategy.timeframe
        strategy = build_strategy(profile.strategy_kind, dict(profile.strategy_params))
        window = max(strategy.warmup_candles, strategy.min_candles)
        warm = timedelta(milliseconds=interval_to_ms(interval) * window)
        hour_warm = timedelta(hours=max(2 * profile.correlation_lookback, 240))
        instruments = {
            i.symbol: instrument_info(i) for i in Instrument.objects.filter(symbol__in=bot.symbols)
        }
        missing = sorted(set(bot.symbols) - set(instruments))
        if missing:
            raise CommandError(f"unknown instruments {', '.join(missing)}")

        candles = {
            s: _candles(folder / f"{s}-{interval}.csv.gz", interval, start - warm, end)
            for s in bot.symbols
        }
        hourly: dict[str, list[Candle]] = {}
        for symbol in sorted({*bot.symbols, VIX_SYMBOL}):
            path = folder / f"{symbol}-1h.csv.gz"
            if path.exists():  # without it: no CryptoVIX / correlation, as in paper trading
                hourly[symbol] = _candles(path, "1h", start - hour_warm, end)
        funding: dict[str, list[tuple[datetime, Decimal]]] = {}
        for symbol in bot.symbols:
            path = folder / f"{symbol}-funding.csv.gz"
            if not path.exists():
                continue
            try:
                rates = load_funding(path)
            except MarketDataError as exc:
                raise CommandError(str(exc)) from exc
            funding[symbol] = [
                (ms_to_datetime(t), Decimal(repr(r)))  # as funding_import stores them
                for t, r in zip(
                    rates.funding_time.tolist(), rates.funding_rate.tolist(), strict=True
                )
                if datetime_to_ms(start - warm) <= t < datetime_to_ms(end)
            ]
        config = SimConfig(
            profile=profile,
            symbols=tuple(bot.symbols),
            timeframe=interval,
            instruments=instruments,
            balance=bot.account.paper_starting_balance,
            seed=bot.pk,
            start=start,
            end=end,
        )
        started = time.perf_counter()
        try:
            result = run_exchange_backtest(config, candles, funding, hourly=hourly)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        seconds = time.perf_counter() - started
        closed = result.closed_trades
        net = sum((t.net_pnl for t in closed), Decimal(0))
        fees = sum((t.fees for t in result.trades), Decimal(0))
        if options["trades"]:
            for t in result.trades:
                self.stdout.write(
                    f"{t.symbol} {t.side:5} {t.entry_time:%Y-%m-%d %H:%M} -> "
                    f"{f'{t.exit_time:%Y-%m-%d %H:%M}' if t.exit_time else 'open':16} "
                    f"qty {t.quantity.normalize()} entry {t.entry_price.normalize()} "
                    f"exit {t.exit_price.normalize() if t.exit_price else '-'} "
                    f"{t.exit_reason or '-':11} net {t.net_pnl:.2f}"
                )
        wins = sum(1 for t in closed if t.net_pnl > 0)
        rate = f"{wins / len(closed):.1%}" if closed else "n/a"
        self.stdout.write(
            f"exchange-mode backtest of {bot.name} from {start:%Y-%m-%d} to {end:%Y-%m-%d}: "
            f"{result.cycles} cycles {result.outcomes} in {seconds:.1f} s; trades "
            f"{len(result.trades)} ({len(closed)} closed, win rate {rate}); net PnL {net:.2f} "
            f"USDT, fees {fees:.2f}" + (f"; stopped: {result.stopped}" if result.stopped else "")
        )
        if result.metrics is not None:
            m = result.metrics
            self.stdout.write(
                f"final equity {m.final_equity:.2f}, return {m.total_return:.2%}, "
                f"max drawdown {m.max_drawdown:.2%}, sharpe {m.sharpe:.2f}"
            )
