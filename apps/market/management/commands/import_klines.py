from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.market.data import MarketDataError
from apps.market.services import DEFAULT_BATCH_SIZE, ImportSummary, klines_import

_BAR_WIDTH = 30


def _parse_time(option: str, text: str | None) -> int | None:
    """Return ms UTC for an ISO date or date-time (naive means UTC); raise CommandError."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(
            f"{option} {text!r} is not an ISO date or date-time (e.g. 2024-01-01T00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


class _ProgressBar:
    """A one-line textual bar redrawn in place on stderr (only when the percentage moves)."""

    def __init__(self, command: BaseCommand, label: str) -> None:
        self.command = command
        self.label = label
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        percent = 100 if total == 0 else done * 100 // total
        if percent == self.shown:
            return
        self.shown = percent
        filled = _BAR_WIDTH * percent // 100
        bar = "#" * filled + "." * (_BAR_WIDTH - filled)
        self.command.stderr.write(
            f"\r{self.label} [{bar}] {percent:3d}% {done}/{total} rows",
            style_func=lambda text: text,
            ending="\n" if done >= total else "",
        )


class Command(BaseCommand):
    help = (
        "Import kline CSV files (the shipped gzip CSVs or Binance public-data files) into the "
        "database. Each file is imported in one transaction: a malformed file stops the "
        "command with a one-line error naming file and line, and nothing of that file is "
        "written; files before it stay imported, files after it are not read. Candles already "
        "in the database (same symbol, interval, open time) are skipped, so a re-import is "
        "harmless."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
        parser.add_argument(
            "--symbol", help="symbol, if the file name is not <SYMBOL>-<interval>.csv[.gz]"
        )
        parser.add_argument("--interval", help="interval (1m, 5m, 1h, ...), as for --symbol")
        parser.add_argument("--since", help="first open time to import, ISO (UTC if naive)")
        parser.add_argument("--until", help="import open times before this, ISO (UTC if naive)")
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)

    def handle(self, *args: Any, **options: Any) -> None:
        since_ms = _parse_time("--since", options["since"])
        until_ms = _parse_time("--until", options["until"])
        if since_ms is not None and until_ms is not None and until_ms <= since_ms:
            raise CommandError("--until must be after --since")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        summaries: list[ImportSummary] = []
        for path in options["paths"]:
            try:
                summary = klines_import(
                    path=path,
                    symbol=options["symbol"],
                    interval=options["interval"],
                    since_ms=since_ms,
                    until_ms=until_ms,
                    batch_size=options["batch_size"],
                    progress=_ProgressBar(self, path.name),
                )
            except MarketDataError as exc:
                raise CommandError(str(exc)) from exc
            summaries.append(summary)
            self.stdout.write(summary.line())
        inserted = sum(s.inserted for s in summaries)
        skipped = sum(s.skipped for s in summaries)
        seconds = sum(s.seconds for s in summaries)
        self.stdout.write(
            f"imported {len(summaries)} file(s): {inserted} inserted, {skipped} skipped, "
            f"{seconds:.2f} s"
        )
