"""Backtesting a file of past webhook signals (TradingView alerts) in exchange mode.

The signals go through the same runner a webhook signal goes through on a worker
(``apps.trading.domain.signal_step``), against the bot's simulated exchange and the in-memory
store, over historical candles: the bot's candle cycles run at every candle close as paper
trading runs them (fills of stops and take-profits, break-even, the managed trailing stop, the
circuit breaker), and each signal is acted on at its own time, after the last candle closed
before it, in the order of the file when two share a time (a candle that closes at a signal's
time comes first).

File formats (``signals_parse``): JSON lines, one alert object per line, as the webhook takes
it (``symbol``, ``action`` buy / sell / close, ``time`` ISO 8601 or epoch milliseconds, and the
optional ``stop_loss``, ``take_profit``, ``quantity``, ``quote_amount``, ``percent_equity``,
``order_type``, ``price``; ``bot`` and ``passphrase`` are ignored); or CSV with a header row
naming the same fields. Blank lines and lines starting with ``#`` are skipped.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from apps.backtest.exchange_mode.domain.loop import SimConfig, SimResult, run_exchange_backtest
from apps.exchange.domain.types import Candle, ms_to_datetime
from apps.trading.domain.signal_step import SignalResult

__all__ = ["PastSignal", "SignalFileError", "SignalOutcome", "SignalRun", "signals_parse"]

_IGNORED = frozenset({"bot", "passphrase", "secret"})
_ACTIONS = frozenset({"buy", "sell", "close"})


class SignalFileError(ValueError):
    """A signal file cannot be read; the message names the line."""


@dataclass(frozen=True, slots=True)
class PastSignal:
    """One alert of the file: its line, when it fired, for which symbol, what it says."""

    line: int
    time: datetime
    symbol: str
    action: str
    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SignalOutcome:
    """What the runner did with one signal (a ``Signal.outcome`` value and why)."""

    signal: PastSignal
    outcome: str
    detail: str
    blocked_by: str = ""
    order: str | None = None  # the client id of the first order sent


@dataclass(frozen=True, slots=True)
class SignalRun:
    """The exchange-mode run (trades, orders, equity, metrics) and each signal's outcome."""

    sim: SimResult
    signals: tuple[SignalOutcome, ...]

    @property
    def outcomes(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for s in self.signals:
            counts[s.outcome] = counts.get(s.outcome, 0) + 1
        return counts


def _time(value: Any, line: int) -> datetime:
    if value is None or value == "":
        raise SignalFileError(f"line {line}: no time")
    text = str(value).strip()
    if text.isdigit():  # epoch milliseconds (seconds when it is too small for ms)
        number = int(text)
        return ms_to_datetime(number if number > 10**11 else number * 1000)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SignalFileError(f"line {line}: time {text!r} is not ISO 8601 or epoch ms") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _signal(raw: Mapping[str, Any], line: int) -> PastSignal:
    if not isinstance(raw, Mapping):
        raise SignalFileError(f"line {line}: not a JSON object")
    payload = {k: v for k, v in raw.items() if k not in _IGNORED and v not in (None, "")}
    action = str(payload.get("action", "")).strip().lower()
    if action not in _ACTIONS:
        raise SignalFileError(
            f"line {line}: action must be buy, sell or close, got {raw.get('action')!r}"
        )
    symbol = str(payload.get("symbol", "")).strip().upper().replace(".P", "").replace("/", "")
    if not symbol:
        raise SignalFileError(f"line {line}: no symbol")
    when = _time(payload.get("time"), line)
    payload.update(action=action, symbol=symbol, time=when.isoformat())
    return PastSignal(line=line, time=when, symbol=symbol, action=action, payload=payload)


def signals_parse(text: str) -> list[PastSignal]:
    """The signals of a file's text, JSON lines or CSV (see the module), oldest first (a
    stable sort: signals of one time keep the file's order). Raise ``SignalFileError``."""
    lines = text.splitlines()
    first = next((s.strip() for s in lines if s.strip() and not s.lstrip().startswith("#")), "")
    signals: list[PastSignal] = []
    if first.startswith("{"):
        for number, raw in enumerate(lines, start=1):
            stripped = raw.strip()
            if not stripped or stripped.startswith("#"):
                continue
            try:
                data = json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise SignalFileError(f"line {number}: not JSON ({exc.msg})") from None
            signals.append(_signal(data, number))
    elif first:
        rows = [r for r in lines if not r.lstrip().startswith("#")]
        reader = csv.DictReader(io.StringIO("\n".join(rows)))
        if not reader.fieldnames or "action" not in reader.fieldnames:
            raise SignalFileError("line 1: a CSV signal file needs a header with action")
        for number, row in enumerate(reader, start=2):
            signals.append(_signal({k.strip(): v for k, v in row.items() if k}, number))
    if not signals:
        raise SignalFileError("the file holds no signal")
    return sorted(signals, key=lambda s: s.time)


def run_signal_backtest(
    config: SimConfig,
    candles_by_symbol: Mapping[str, Sequence[Candle]],
    signals: Sequence[PastSignal],
    funding: Mapping[str, Sequence[tuple[datetime, Decimal]]] | None = None,
    *,
    hourly: Mapping[str, Sequence[Candle]] | None = None,
) -> SignalRun:
    """Run the bot (a ``signal`` strategy) over the candles and act on ``signals`` at their
    times; ``config``, the candles, ``funding`` and ``hourly`` as for
    ``run_exchange_backtest``."""
    outcomes: list[tuple[Any, SignalResult]] = []
    sim = run_exchange_backtest(
        config,
        candles_by_symbol,
        funding,
        hourly=hourly,
        signals="window",
        external=signals,
        external_outcomes=outcomes,
    )
    return SignalRun(
        sim=sim,
        signals=tuple(
            SignalOutcome(
                signal=signal,
                outcome=result.outcome,
                detail=result.detail,
                blocked_by=result.blocked_by,
                order=None if result.order is None else result.order.client_order_id,
            )
            for signal, result in outcomes
        ),
    )
