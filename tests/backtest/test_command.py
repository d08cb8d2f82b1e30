"""`manage.py backtest`: the user-facing command around the ema_cross kernel."""

from __future__ import annotations

import csv
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.backtest.research.domain.ema_cross import EmaCrossParams
from apps.backtest.research.domain.engine import backtest_ema_cross
from apps.market.data import load_klines

PARAMS = '{"fast":12,"slow":26,"warmup":200,"sl":0.02,"tp":0.04}'


def test_backtest_command_with_shipped_file_writes_trades_and_metrics(
    shared_data, tmp_path
) -> None:
    data = shared_data / "futures" / "ETHUSDT-1h.csv.gz"
    trades_out, json_out, out = tmp_path / "trades.csv", tmp_path / "result.json", StringIO()
    call_command(
        "backtest",
        strategy="ema_cross",
        params=PARAMS,
        data=[str(data)],
        fee=0.0004,
        stake=1000,
        cash=10000,
        slippage="none",
        trades_out=str(trades_out),
        json_out=str(json_out),
        stdout=out,
    )
    expected = backtest_ema_cross(
        load_klines(data),
        EmaCrossParams(
            fast=12, slow=26, warmup=200, stop_loss=0.02, take_profit=0.04, stake=1000, fee=0.0004
        ),
        initial_capital=10000,
    ).trade_records()
    with trades_out.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [
        "symbol",
        "entry_time",
        "exit_time",
        "entry_price",
        "exit_price",
        "quantity",
        "exit_reason",
        "pnl",
        "fees",
        "side",
        "slippage_bps",
    ]
    assert {row["side"] for row in rows} == {"long"}
    assert {float(row["slippage_bps"]) for row in rows} == {0.0}  # --slippage none
    assert len(rows) == len(expected) > 100
    for row, trade in zip(rows, expected, strict=True):
        assert int(row["entry_time"]) == trade.entry_time
        assert int(row["exit_time"]) == trade.exit_time
        assert float(row["exit_price"]) == trade.exit_price
        assert row["exit_reason"] == trade.exit_reason
    result = json.loads(json_out.read_text())
    assert result["trades"] == len(expected)
    assert result["engine_seconds"] > 0
    metrics = result["symbols"]["ETHUSDT-1h"]
    for key in (
        "total_return",
        "cagr",
        "sharpe",
        "sortino",
        "calmar",
        "max_drawdown",
        "win_rate",
        "profit_factor",
        "expectancy",
        "exposure",
        "buy_and_hold_return",
    ):
        assert key in metrics
    assert f"{len(expected)} trades" in out.getvalue()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ('{"fast": 30, "slow": 10}', "--params: fast (30) must be smaller than slow (10)"),
        ("{fast: 1}", "--params is not JSON"),
        ('{"speed": 1}', "unknown parameter(s) for ema_cross: speed"),
    ],
)
def test_backtest_command_with_bad_params_fails_in_one_line(shared_data, params, message) -> None:
    with pytest.raises(CommandError) as info:
        call_command(
            "backtest", params=params, data=[str(shared_data / "futures" / "ETHUSDT-1h.csv.gz")]
        )
    assert message in str(info.value) and "\n" not in str(info.value)


def test_backtest_command_with_malformed_file_names_file_and_line(tmp_path) -> None:
    bad = tmp_path / "BTCUSDT-1h.csv"
    bad.write_text("open_time,open,high,low,close,volume\n1,2,3,1,2,5\n2,x,3,1,2,5\n")
    with pytest.raises(CommandError, match=r"BTCUSDT-1h.csv:3"):
        call_command("backtest", params=PARAMS, data=[str(bad)])


def test_backtest_command_with_dates_and_symbols_selects_candles(shared_data, tmp_path) -> None:
    out = StringIO()
    files = [str(shared_data / "futures" / f"{s}-1h.csv.gz") for s in ("BTCUSDT", "ETHUSDT")]
    call_command(
        "backtest",
        params=PARAMS,
        data=files,
        symbols=["ETHUSDT"],
        start="2024-01-01",
        end="2024-02-01",
        json_out=str(tmp_path / "r.json"),
        stdout=out,
    )
    result = json.loads((tmp_path / "r.json").read_text())
    assert list(result["symbols"]) == ["ETHUSDT-1h"]
    assert result["candles"] == 31 * 24


@pytest.mark.parametrize("kind", ["ema_cross", "bollinger_scalp", "trend_swing"])
def test_lookahead_command_with_builtin_strategy_finds_none(shared_data, kind) -> None:
    out = StringIO()
    call_command(
        "lookahead",
        strategy=kind,
        data=str(shared_data / "futures" / "ETHUSDT-1h.csv.gz"),
        candles=3000,
        cuts=8,
        stdout=out,
    )
    assert f"no look-ahead: {kind} gave the same signals on 8 truncations" in out.getvalue()


def test_lookahead_command_with_unknown_kind_fails_in_one_line(shared_data) -> None:
    with pytest.raises(CommandError, match="martingale"):
        call_command(
            "lookahead",
            strategy="martingale",
            data=str(shared_data / "futures" / "ETHUSDT-1h.csv.gz"),
        )


def test_backtest_command_with_report_writes_self_contained_html(shared_data, tmp_path) -> None:
    import re
    import xml.etree.ElementTree as ET

    report = tmp_path / "report.html"
    call_command(
        "backtest",
        params=PARAMS,
        data=[str(shared_data / "futures" / "ETHUSDT-1h.csv.gz")],
        start="2024-01-01",
        report=str(report),
        stdout=StringIO(),
    )
    text = report.read_text()
    svgs = re.findall(r"<svg.*?</svg>", text, flags=re.S)
    assert len(svgs) == 3  # equity, drawdown, price with trades
    for svg in svgs:
        ET.fromstring(svg)  # well-formed
    assert "ETHUSDT-1h:" in text and "trades" in text
    # figures for people: a drawdown as a percentage, not a raw fraction
    assert re.search(r"<th>max drawdown</th><td>\d+\.\d\d %</td>", text)
    assert text.count("<circle") > 100  # entries and exits on the price chart
    assert "http" not in text  # nothing to fetch: opens offline


def test_backtest_command_runs_trend_swing_long_and_short_with_figures_per_side(
    shared_data, tmp_path
) -> None:
    trades_out, json_out, out = tmp_path / "trades.csv", tmp_path / "result.json", StringIO()
    call_command(
        "backtest",
        strategy="trend_swing",
        params='{"fast": 20, "slow": 50}',
        data=[str(shared_data / "futures" / "ETHUSDT-1h.csv.gz")],
        funding=["auto"],
        mode="SWING",
        trades_out=str(trades_out),
        json_out=str(json_out),
        stdout=out,
    )
    with trades_out.open() as f:
        rows = list(csv.DictReader(f))
    assert {row["side"] for row in rows} == {"long", "short"}
    assert {row["exit_reason"] for row in rows} >= {"stop_loss", "trailing", "signal"}
    result = json.loads(json_out.read_text())
    assert result["strategy"] == "trend_swing" and result["mode"] == "SWING"
    assert result["execution"]["slippage"] == "book"  # the default
    sides = result["by_side"]
    assert sides["long"]["trades"] + sides["short"]["trades"] == len(rows) == result["trades"]
    assert sides["long"]["funding_paid"] + sides["short"]["funding_paid"] == pytest.approx(
        result["funding_paid"]
    )
    symbol = result["symbols"]["ETHUSDT-1h"]
    assert symbol["n_long"] == sides["long"]["trades"] and symbol["by_side"] == sides
    assert result["by_mode"]["SWING"]["trades"] == len(rows)
    mean_slippage = result["avg_slippage_bps"]
    assert mean_slippage > 0 and symbol["avg_slippage_bps"] == mean_slippage
    assert "long" in out.getvalue() and "short" in out.getvalue()


def test_backtest_command_with_leverage_liquidates_losing_the_margin(shared_data, tmp_path) -> None:
    trades_out = tmp_path / "trades.csv"
    call_command(
        "backtest",
        strategy="bollinger_scalp",
        data=[str(shared_data / "futures" / "ETHUSDT-1h.csv.gz")],
        start="2024-01-01",
        leverage=100,
        maintenance_margin=0.005,
        fee=0.0005,
        stake=100,
        trades_out=str(trades_out),
        stdout=StringIO(),
    )
    with trades_out.open() as f:
        liquidated = [r for r in csv.DictReader(f) if r["exit_reason"] == "liquidation"]
    assert len(liquidated) > 10
    for row in liquidated:
        q, entry = float(row["quantity"]), float(row["entry_price"])
        assert q * entry == pytest.approx(100 * 100, rel=1e-3)  # stake x leverage
        assert float(row["pnl"]) == pytest.approx(-(q * entry / 100 + 0.0005 * q * entry))
        bound = entry * (1 - 1 / 100) / (1 - 0.005) if row["side"] == "long" else None
        if bound is not None:
            assert float(row["exit_price"]) <= bound * (1 + 1e-12)


def test_backtest_command_with_finer_candles_resolves_ambiguous_candles(
    shared_data, tmp_path
) -> None:
    json_out = tmp_path / "result.json"
    call_command(
        "backtest",
        strategy="bollinger_scalp",
        params='{"stop_atr": 0.5, "take_profit_atr": 0.5}',
        data=[str(shared_data / "futures" / "ETHUSDT-5m.csv.gz")],
        start="2025-05-05",
        end="2025-06-24",
        intrabar="finer",
        json_out=str(json_out),
        stdout=StringIO(),
    )
    intrabar = json.loads(json_out.read_text())["symbols"]["ETHUSDT-5m"]["intrabar"]
    assert intrabar["mode"] == "finer" and intrabar["fine_candles"] > 70_000  # ETHUSDT-1m
    assert intrabar["ambiguous_candles"] >= intrabar["resolved_by_fine"] > 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"strategy": "signal"}, "strategy 'signal' cannot be backtested"),
        ({"strategy": "trend_swing", "params": '{"sl": 2}'}, "--params: sl must be in (0, 1)"),
        ({"leverage": 500}, "leverage must be in [1, 125]"),
    ],
)
def test_backtest_command_with_bad_execution_options_fails_in_one_line(
    shared_data, options, message
) -> None:
    with pytest.raises(CommandError) as info:
        call_command(
            "backtest", data=[str(shared_data / "futures" / "ETHUSDT-1h.csv.gz")], **options
        )
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.django_db
def test_backtest_command_on_imported_candles_matches_the_same_file(shared_data, tmp_path):
    from datetime import UTC, datetime

    from apps.trading.replay import ensure_klines

    ensure_klines(
        symbol="ETHUSDT",
        interval="1h",
        start=datetime(2024, 1, 1, tzinfo=UTC),
        end=datetime(2024, 4, 1, tzinfo=UTC),
        data_dir=shared_data,
    )
    common = ["--strategy", "trend_swing", "--start", "2024-01-01", "--end", "2024-04-01"]
    from_file, from_db = tmp_path / "file.json", tmp_path / "db.json"
    call_command(
        "backtest",
        *common,
        "--data",
        str(shared_data / "futures" / "ETHUSDT-1h.csv.gz"),
        "--json",
        str(from_file),
        stderr=StringIO(),
        stdout=StringIO(),
    )
    call_command(
        "backtest",
        *common,
        "--symbols",
        "ETHUSDT",
        "--interval",
        "1h",
        "--json",
        str(from_db),
        stderr=StringIO(),
        stdout=StringIO(),
    )
    a, b = json.loads(from_file.read_text()), json.loads(from_db.read_text())
    assert a["trades"] > 0
    for key in ("trades", "candles", "total_pnl", "first_open_time", "last_open_time"):
        assert a[key] == b[key], key


@pytest.mark.django_db
def test_backtest_command_without_data_or_imported_candles_says_what_to_give():
    with pytest.raises(CommandError, match="give --data FILE"):
        call_command("backtest", "--symbols", "ETHUSDT", stderr=StringIO())
    with pytest.raises(CommandError, match="no imported ETHUSDT 1h candles"):
        call_command("backtest", "--symbols", "ETHUSDT", "--interval", "1h", stderr=StringIO())
