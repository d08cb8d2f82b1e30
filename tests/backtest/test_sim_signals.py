"""A file of past webhook signals backtested through the trading runner on the in-memory store.

``manage.py backtest_signals`` runs as a real process against the test database; the parser
and the runner's outcomes are checked on their own below it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

from apps.backtest.exchange_mode.domain.signals import SignalFileError, signals_parse
from apps.backtest.exchange_mode.services import ExchangeModeError, signal_backtest
from apps.bots.models import Bot
from apps.strategies.models import Strategy
from apps.trading.models import Order, Trade
from tests.factories import make_bot

REPO = Path(__file__).resolve().parents[2]

ALERTS = [
    # a buy with its own stop, sized by quote amount; closed by the next day's alert
    {"symbol": "BTCUSDT", "action": "buy", "time": "2024-01-01T10:00:05Z", "quote_amount": "3000",
     "stop_loss": "40000", "bot": "ignored", "passphrase": "never-read"},
    {"symbol": "BTCUSDT", "action": "close", "time": "2024-01-02T10:00:05Z"},
    # a short with the default stop, then a buy that reverses it to flat (EXIT_SHORT)
    {"symbol": "BTCUSDT.P", "action": "sell", "time": "2024-01-03T06:30:00Z", "quantity": "0.05"},
    {"symbol": "BTCUSDT", "action": "buy", "time": "2024-01-03T20:15:00Z"},
    # the bot does not trade ETHUSDT; a close while flat does nothing
    {"symbol": "ETHUSDT", "action": "buy", "time": "2024-01-04T01:00:00Z"},
    {"symbol": "BTCUSDT", "action": "close", "time": "2024-01-04T02:00:00Z"},
    # outside the period: skipped
    {"symbol": "BTCUSDT", "action": "buy", "time": "2024-02-01T00:00:00Z"},
]  # fmt: skip


def _signal_bot(name: str = "tv-past") -> Bot:
    strategy, _ = Strategy.objects.get_or_create(
        name="tv-past", defaults={"kind": "signal", "mode": "SWING", "timeframe": "1h"}
    )
    return make_bot(name, strategy=strategy, symbols=["BTCUSDT"], trailing="none")


def _write_jsonl(path: Path) -> Path:
    path.write_text("\n".join(json.dumps(a) for a in ALERTS) + "\n", encoding="utf-8")
    return path


def _database_url() -> str:
    from django.conf import settings

    parts = urlsplit(settings.TEST_DATABASE_URL)
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


@pytest.mark.django_db(transaction=True)
def test_backtest_signals_command_acts_on_each_signal_and_reports(shared_data, tmp_path) -> None:
    bot = _signal_bot()
    path = _write_jsonl(tmp_path / "alerts.jsonl")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="tradingplatform.settings.dev",
        DATABASE_URL=_database_url(),
        DATABASE_CONN_MAX_AGE="0",
        FIELD_ENCRYPTION_KEY="Pv2yJ5M1o0x3Zf6j3Pq2aHn0QqB1Zo8c2sYq9fXzH4k=",
    )
    command = [sys.executable, "manage.py", "backtest_signals", str(path), "--bot", bot.name]
    command += ["--start", "2024-01-01", "--end", "2024-01-06", "--signals", "--trades"]
    command += ["--data-dir", str(shared_data / "futures")]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "signals: 6 acted on {'placed': 4, 'rejected': 1, 'ignored': 1}" in out, out
    assert "1 outside the period, skipped" in out, out
    assert "line 5 2024-01-04 01:00 ETHUSDT buy   -> rejected: bot does not trade ETHUSDT" in out
    assert (
        "line 6 2024-01-04 02:00 BTCUSDT close -> ignored: nothing to do: close while flat" in out
    )
    assert "signal backtest of tv-past from 2024-01-01 to 2024-01-06: 120 cycles" in out, out
    assert "trades 2 (2 closed" in out, out
    assert out.count(" signal ") >= 2, out  # both trades ended by a signal (exit reason)
    # nothing was written: the run is in memory
    assert not Trade.objects.filter(bot=bot).exists()
    assert not Order.objects.filter(bot=bot).exists()

    bad = subprocess.run(
        [*command[:3], str(tmp_path / "missing.jsonl"), *command[4:]],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 1 and "no signal file" in bad.stderr, bad.stderr[-2000:]


@pytest.mark.django_db
def test_signal_backtest_sizes_and_protects_entries_as_a_live_signal(shared_data, tmp_path):
    bot = _signal_bot("tv-past-2")
    run, outside = signal_backtest(
        bot=bot,
        path=_write_jsonl(tmp_path / "alerts.jsonl"),
        start=datetime(2024, 1, 1, tzinfo=UTC),
        end=datetime(2024, 1, 6, tzinfo=UTC),
        folder=shared_data / "futures",
    )
    assert outside == 1
    first, second = run.sim.closed_trades
    assert first.side == "LONG" and first.exit_reason == "signal"
    # 3,000 USDT asked; the risk gate allows 1 % of 10,000 USDT lost at the alert's stop
    assert first.quantity * (first.entry_price - Decimal(40000)) <= Decimal(100)
    assert "capped to" in run.signals[0].detail and run.signals[0].outcome == "placed"
    assert second.side == "SHORT" and second.quantity == Decimal("0.05")
    orders = {o.client_order_id.split("_")[0]: o for o in run.sim.orders}
    assert orders  # every order carries the bot's key and the signal's intent
    stops = [o for o in run.sim.orders if o.purpose == "stop_loss"]
    assert stops[0].trigger_price == Decimal(40000)  # the alert's own stop
    assert {o.status for o in run.sim.orders if o.purpose == "entry"} <= {"FILLED", "EXPIRED"}


def test_signal_file_in_csv_and_json_lines_parse_alike() -> None:
    jsonl = "\n".join(json.dumps(a) for a in ALERTS[:3])
    csv_text = (
        "time,symbol,action,quote_amount,stop_loss,quantity\n"
        "2024-01-01T10:00:05Z,BTCUSDT,buy,3000,40000,\n"
        "# a comment line\n"
        "1704189605000,btcusdt,close,,,\n"
        "2024-01-03T06:30:00+00:00,BTCUSDT.P,SELL,,,0.05\n"
    )
    a, b = signals_parse(jsonl), signals_parse(csv_text)
    assert [(s.time, s.symbol, s.action) for s in a] == [(s.time, s.symbol, s.action) for s in b]
    assert a[0].payload["stop_loss"] == "40000" and "passphrase" not in a[0].payload


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"symbol": "BTCUSDT", "action": "hold", "time": "2024-01-01T00:00:00Z"}',
            "line 1: action",
        ),
        ('{"symbol": "BTCUSDT", "action": "buy"}', "line 1: no time"),
        ('{"symbol": "BTCUSDT", "action": "buy", "time": "yesterday"}', "not ISO 8601"),
        ("\n# nothing\n", "no signal"),
        ("time,symbol\n2024-01-01,BTCUSDT\n", "header with action"),
        ('{"symbol": "BTCUSDT"', "line 1: not JSON"),
    ],
)
def test_bad_signal_file_is_refused_with_the_line(text: str, message: str) -> None:
    with pytest.raises(SignalFileError, match=message):
        signals_parse(text)


@pytest.mark.django_db
def test_signal_backtest_of_a_candle_strategy_bot_is_refused(shared_data, tmp_path) -> None:
    bot = make_bot("ema-not-signals")
    with pytest.raises(ExchangeModeError, match="not webhook signals"):
        signal_backtest(
            bot=bot,
            path=_write_jsonl(tmp_path / "a.jsonl"),
            start=datetime(2024, 1, 1, tzinfo=UTC),
            end=datetime(2024, 1, 2, tzinfo=UTC),
            folder=shared_data / "futures",
        )
