"""The cockpit's pages and snapshots through the real views and database (Django's client)."""

from __future__ import annotations

import csv
import io

import pytest

from apps.trading.models import Trade
from tests.dashboard.dom import parse

pytestmark = pytest.mark.django_db

PAGES = ("/", "/portfolio/", "/bots/alpha/", "/bots/alpha/trades.csv")
SNAPSHOTS = ("/api/cockpit/snapshot/", "/api/cockpit/portfolio/", "/api/cockpit/bots/alpha/")


@pytest.mark.parametrize("url", PAGES)
def test_page_with_anonymous_user_redirects_to_login_without_figures(client, desk, url) -> None:
    response = client.get(url)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert b"10,095.57" not in response.content and b"alpha" not in response.content


@pytest.mark.parametrize("url", PAGES)
def test_page_with_non_staff_user_redirects_to_login(plain_client, desk, url) -> None:
    response = plain_client.get(url)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize("url", SNAPSHOTS)
def test_snapshot_with_non_staff_or_anonymous_user_is_403_without_figures(
    client, plain_client, desk, url
) -> None:
    for who in (client, plain_client):
        response = who.get(url)
        assert response.status_code == 403
        assert response.json() == {
            "message": "staff only: log in at /admin/login/",
            "code": "forbidden",
            "extra": {},
        }


def test_overview_with_staff_user_shows_every_section_with_formatted_numbers(
    staff_client, desk
) -> None:
    response = staff_client.get("/")
    assert response.status_code == 200
    dom = parse(response.content)
    rows = {row.attrs["data-bot"]: row for row in dom.all("bot-row")}
    assert sorted(rows) == ["alpha", "beta"]  # the rehearsal copy is not shown
    alpha = rows["alpha"]
    assert alpha.field("state") == "running" and alpha.field("cause") == ""
    assert alpha.field("equity") == "10,095.57"
    assert alpha.field("pnl-today") == "+147.50" and alpha.field("pnl-total") == "+95.00"
    assert alpha.field("breaker") == "clear" and alpha.field("ai") == "—"
    assert alpha.field("vix") == "—"  # no candles: no CryptoVIX reading, and no error
    assert rows["beta"].field("reason") == "waiting for the open"
    for action in ("pause-bot", "resume-bot", "kill-bot"):
        button = dom.one(action, bot="alpha")
        assert button.attrs["data-confirm"] and button.attrs["data-post"].startswith("/api/")
    assert dom.one("kill-all").attrs["data-post"] == "/api/cockpit/killswitch/"

    [position] = dom.all("position-row")
    assert (position.attrs["data-bot"], position.attrs["data-symbol"]) == ("alpha", "BTCUSDT")
    assert position.field("quantity") == "0.004" and position.field("entry") == "108157.5"
    assert position.field("mark") == "108300" and position.field("unrealized") == "+0.57"
    assert not dom.all("no-positions")
    assert dom.one("open-positions-count").text == "1" == str(len(dom.all("position-row")))
    assert dom.one("equity-total").text == "20,095.57"  # alpha + beta (10,000.00)

    [order] = dom.all("order-row")
    assert order.field("purpose") == "stop_loss" and order.field("type") == "STOP_MARKET"
    assert order.attrs["data-algo"] == "1"

    assert dom.one("equity-chart").tag == "div"
    health = dom.one("health")
    for name in ("database", "cache", "broker", "workers", "market-data"):
        assert health.field(name)
    assert health.field("database") == "ok" and health.field("cache") == "ok"
    assert dom.one("live-status").text == "reconnecting"
    html = response.content.decode()
    assert (
        "/static/vendor/lightweight-charts/5.3.0/lightweight-charts.standalone.production.js"
        in html
    )
    assert "/static/dashboard/live.js" in html and 'data-ws-path="/ws/live/"' in html
    assert "108157.500000000000" not in html and "0E-12" not in html


def test_overview_health_with_running_bot_and_no_candles_names_the_missing_market_data(
    staff_client, desk
) -> None:
    desk.alpha.strategy.timeframe = "1h"
    desk.alpha.strategy.save()
    health = parse(staff_client.get("/").content).one("health")
    assert health.field("market-data") == "BTCUSDT 1h: no candles; ETHUSDT 1h: no candles"
    assert health.field("workers") == "the embedded worker is not running in this process"


def test_overview_health_with_fresh_candles_says_ok(staff_client, desk, shared_data) -> None:
    from datetime import UTC, datetime
    from unittest import mock

    from apps.trading.replay import ensure_klines

    desk.alpha.strategy.timeframe = "1h"
    desk.alpha.strategy.save()
    for symbol in ("BTCUSDT", "ETHUSDT"):
        ensure_klines(
            symbol=symbol,
            interval="1h",
            start=datetime(2025, 9, 1, tzinfo=UTC),
            end=datetime(2025, 9, 3, tzinfo=UTC),
            data_dir=shared_data,
        )
    at = datetime(2025, 9, 2, 12, 30, tzinfo=UTC)  # market time inside the stored candles
    with mock.patch("apps.dashboard.views.market_now", return_value=at):
        dom = parse(staff_client.get("/").content)
    assert dom.one("health").field("market-data") == "ok"
    assert dom.one("bot-row", bot="alpha").field("vix") != "—"  # a CryptoVIX reading now


def test_overview_when_flat_shows_no_positions_and_a_zero_count(staff_client, desk) -> None:
    from apps.trading.models import Position

    Position.objects.filter(bot=desk.alpha).update(quantity=0)
    dom = parse(staff_client.get("/").content)
    assert not dom.all("position-row") and dom.one("no-positions")
    assert dom.one("open-positions-count").text == "0"
    assert dom.one("bot-row", bot="alpha").field("equity") == "10,095.00"


def test_snapshot_json_matches_the_overview_page(staff_client, desk) -> None:
    dom = parse(staff_client.get("/").content)
    snap = staff_client.get("/api/cockpit/snapshot/").json()
    assert snap["page"] == "overview"
    assert snap["equity_total"] == dom.one("equity-total").text == "20,095.57"
    assert snap["open_positions_count"] == 1
    for row in snap["bots"]:
        page = dom.one("bot-row", bot=row["name"])
        for key, field in (("state", "state"), ("equity", "equity"), ("pnl_today", "pnl-today")):
            assert page.field(field) == row[key]
        assert page.field("pnl-total") == row["pnl_total"]
    [position] = snap["positions"]
    page = dom.one("position-row", bot="alpha", symbol="BTCUSDT")
    for key in ("quantity", "entry", "mark", "unrealized"):
        assert page.field(key) == position[key]
    assert {k: v["text"] for k, v in snap["health"].items()} == {
        name: dom.one("health").field(name) for name in snap["health"]
    }
    # The sections the page swaps in on a resync are the server's own rendering.
    sections = {key: parse(html) for key, html in snap["html"].items()}
    assert set(sections) == {"summary", "bots", "positions", "orders", "health", "ai"}
    assert sections["bots"].one("bot-row", bot="alpha").field("equity") == "10,095.57"
    assert sections["summary"].one("equity-total").text == "20,095.57"
    assert len(sections["positions"].all("position-row")) == 1
    assert snap["equity_curve"][-1]["value"] == pytest.approx(20095.57)
    times = [p["time"] for p in snap["equity_curve"]]
    assert times == sorted(set(times)) and len(times) in (3, 4)  # start, 2 exits, now


def test_bot_page_shows_charts_tables_and_csv_link(staff_client, desk) -> None:
    response = staff_client.get("/bots/alpha/")
    assert response.status_code == 200
    dom = parse(response.content)
    assert {c.attrs["data-symbol"] for c in dom.all("price-chart")} == {"BTCUSDT", "ETHUSDT"}
    assert dom.one("equity-chart") and dom.one("drawdown-chart")
    assert len(dom.all("trade-row")) == 3
    [order] = dom.all("order-row")
    first_event = order.all("order-event")[0]
    assert first_event.text.endswith("PENDING_NEW → NEW: accepted")
    assert dom.one("trades-csv").attrs["href"] == "/bots/alpha/trades.csv"
    assert dom.one("bot-row", bot="alpha").field("equity") == "10,095.57"
    assert dom.one("no-ai") and dom.one("no-signals")


def test_bot_page_with_filters_lists_matching_trades_only(staff_client, desk) -> None:
    dom = parse(staff_client.get("/bots/alpha/?status=open").content)
    [row] = dom.all("trade-row")
    assert row.attrs["data-status"] == "OPEN"
    assert dom.one("trades-csv").attrs["href"] == "/bots/alpha/trades.csv?status=OPEN"
    assert not parse(staff_client.get("/bots/alpha/?symbol=ETHUSDT").content).all("trade-row")


def test_bot_page_of_unknown_bot_is_404(staff_client, desk) -> None:
    assert staff_client.get("/bots/nobody/").status_code == 404
    response = staff_client.get("/api/cockpit/bots/nobody/")
    assert response.status_code == 404 and response.json()["message"] == "no bot named 'nobody'"


def test_bot_snapshot_json_matches_the_bot_page(staff_client, desk) -> None:
    dom = parse(staff_client.get("/bots/alpha/").content)
    snap = staff_client.get("/api/cockpit/bots/alpha/").json()
    assert snap["bot"]["equity"] == dom.one("bot-row", bot="alpha").field("equity")
    assert [str(t["id"]) for t in snap["trades"]] == [
        r.attrs["data-trade"] for r in dom.all("trade-row")
    ]
    assert [t["net"] for t in snap["trades"]] == [r.field("net") for r in dom.all("trade-row")]
    assert sorted(t["net"] for t in snap["trades"]) == ["+147.50", "-1.50", "-51.00"]
    [btc, eth] = snap["charts"]
    assert btc["symbol"] == "BTCUSDT" and btc["stop"] == 105000.0 and btc["stop_text"] == "105000"
    assert btc["candles"] == [] and eth["stop"] is None
    assert snap["drawdown_curve"][0]["value"] == 0.0
    assert set(snap["html"]) == {"bots", "positions", "trades", "orders", "signals", "risk", "ai"}


def test_trades_csv_has_every_trade_with_exact_values(staff_client, desk) -> None:
    response = staff_client.get("/bots/alpha/trades.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="alpha-trades.csv"'
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 3
    assert [r["status"] for r in rows] == ["CLOSED", "CLOSED", "OPEN"]  # oldest first
    today = next(r for r in rows if r["realized_pnl"] == "150.5")
    assert today["fees"] == "2.25" and today["funding"] == "0.75" and today["net_pnl"] == "147.5"
    assert today["entry_price"] == "100000" and today["exit_price"] == "101505"
    assert today["roi_pct"] == "4.412345" and today["exit_reason"] == "take_profit"


def test_trades_csv_with_status_filter_exports_those_only(staff_client, desk) -> None:
    response = staff_client.get("/bots/alpha/trades.csv?status=CLOSED&symbol=btcusdt")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["status"] for r in rows] == ["CLOSED", "CLOSED"]
    assert response["Content-Disposition"].endswith('alpha-trades-btcusdt-closed.csv"')
    assert Trade.objects.filter(bot=desk.alpha).count() == 3


def test_portfolio_shows_exposure_correlation_and_margin(staff_client, desk) -> None:
    response = staff_client.get("/portfolio/")
    assert response.status_code == 200
    dom = parse(response.content)
    [row] = dom.one("exposure").all("exposure-row")
    assert (row.attrs["data-symbol"], row.attrs["data-side"]) == ("BTCUSDT", "LONG")
    assert row.field("quantity") == "0.004" and row.field("notional") == "433.20"
    assert dom.one("correlation-heatmap").one("no-correlation")  # no candles stored
    margin = dom.one("margin")
    alpha = margin.one("margin-row", bot="alpha")
    assert alpha.field("margin") == "144.40" and alpha.field("use") == "1.43 %"
    snap = staff_client.get("/api/cockpit/portfolio/").json()
    assert snap["margin"]["total"]["margin"] == margin.one("margin-total").field("margin")


def test_portfolio_heatmap_with_candles_colours_each_pair(staff_client, desk, shared_data) -> None:
    from datetime import UTC, datetime

    from apps.trading.replay import ensure_klines

    for symbol in ("BTCUSDT", "ETHUSDT"):
        ensure_klines(
            symbol=symbol,
            interval="1h",
            start=datetime(2025, 9, 1, tzinfo=UTC),
            end=datetime(2025, 9, 10, tzinfo=UTC),
            data_dir=shared_data,
        )
    heatmap = parse(staff_client.get("/portfolio/").content).one("correlation-heatmap")
    cells = {(c.attrs["data-a"], c.attrs["data-b"]): c for c in heatmap.all("correlation-cell")}
    assert len(cells) == 4 and cells[("BTCUSDT", "BTCUSDT")].text == "+1.00"
    btc_eth = float(cells[("BTCUSDT", "ETHUSDT")].text)
    assert 0.5 < btc_eth < 1 and cells[("ETHUSDT", "BTCUSDT")].text == f"{btc_eth:+.2f}"
    assert cells[("BTCUSDT", "ETHUSDT")].attrs["data-bg"].startswith("rgb(255,")
