"""The cockpit's pages (staff only): overview, a bot's page (and its trades as CSV), portfolio.

Each page is rendered on the server from the same snapshot its JSON endpoint returns
(``apps.dashboard.apis``), with the same partial templates, so the first paint, a re-render
after a reconnect and the JSON agree; ``static/dashboard/*.js`` keeps them live.
"""

from __future__ import annotations

import csv
from typing import Any

from django.contrib.admin.views.decorators import staff_member_required
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, render
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.http import require_GET

from apps.bots import access
from apps.bots.models import Bot
from apps.dashboard.cockpit.bot import bot_snapshot, trades_csv_rows
from apps.dashboard.cockpit.overview import overview_snapshot
from apps.dashboard.cockpit.portfolio import portfolio_snapshot
from apps.market.clock import market_now
from apps.trading.models import Trade

#: The partial templates of each page, by the ``data-section`` they fill.
SECTIONS: dict[str, dict[str, str]] = {
    "overview": {
        "summary": "dashboard/cockpit/_summary.html",
        "bots": "dashboard/cockpit/_bots.html",
        "positions": "dashboard/cockpit/_positions.html",
        "orders": "dashboard/cockpit/_orders.html",
        "health": "dashboard/cockpit/_health.html",
        "ai": "dashboard/cockpit/_ai.html",
    },
    "bot": {
        "bots": "dashboard/cockpit/_bots.html",
        "positions": "dashboard/cockpit/_positions.html",
        "trades": "dashboard/cockpit/_trades.html",
        "orders": "dashboard/cockpit/_bot_orders.html",
        "signals": "dashboard/cockpit/_signals.html",
        "risk": "dashboard/cockpit/_risk.html",
        "ai": "dashboard/cockpit/_ai_decisions.html",
    },
    "portfolio": {
        "exposure": "dashboard/cockpit/_exposure.html",
        "correlation": "dashboard/cockpit/_heatmap.html",
        "margin": "dashboard/cockpit/_margin.html",
    },
}


def cockpit_permissions(user: Any) -> dict[str, Any]:
    """What the page may offer ``user``: the bots it may pause/resume and fire the kill
    switch for (model permission or per-bot grant), and the platform-wide kill switch. The
    buttons it may not use are left out; their POSTs are refused anyway (``apis``)."""

    def names(perm: str) -> set[str]:
        granted = access.grant_names(user, perm)
        return set(Bot.objects.values_list("name", flat=True)) if granted is None else granted

    return {
        "pause": names(access.PAUSE),
        "kill": names(access.KILLSWITCH),
        "kill_all": access.may(user, access.KILLSWITCH_ALL),
        "start_backtest": access.may(user, access.START_BACKTEST),
    }


def bot_context(snap: dict[str, Any]) -> dict[str, Any]:
    """The bot page reuses the overview's bot row and position partials."""
    return {"snap": {**snap, "bots": [snap["bot"]]}, "single_bot": True}


#: What a page's scripts draw before the first snapshot arrives (the tables are in the HTML).
CHART_KEYS = ("charts", "equity_curve", "drawdown_curve")


def page_context(snap: dict[str, Any], *, snapshot_url: str, nav: str, user: Any) -> dict[str, Any]:
    context = bot_context(snap) if snap["page"] == "bot" else {"snap": snap}
    return {
        **context,
        "can": cockpit_permissions(user),
        "charts": {key: snap[key] for key in CHART_KEYS if key in snap},
        "snapshot_url": snapshot_url,
        "nav": nav,
        "market_time": snap["market_time"],
        "causes": {value: label for value, label in Bot.Cause.choices if value},
    }


def trade_filters(request: HttpRequest) -> dict[str, str]:
    symbol = request.GET.get("symbol", "").strip().upper()[:32]
    status = request.GET.get("status", "").strip().upper()
    if status not in Trade.Status.values:
        status = ""
    return {"symbol": symbol, "status": status}


def _query(filters: dict[str, str]) -> str:
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    return f"?{query}" if query else ""


@staff_member_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """The overview (``/``)."""
    snap = overview_snapshot(now=market_now())
    context = page_context(
        snap, snapshot_url=reverse("cockpit-snapshot"), nav="overview", user=request.user
    )
    return render(request, "dashboard/cockpit/overview.html", context)


@staff_member_required
@require_GET
def bot_page(request: HttpRequest, name: str) -> HttpResponse:
    bot = get_object_or_404(Bot.objects.select_related("account", "strategy"), name=name)
    filters = trade_filters(request)
    snap = bot_snapshot(bot=bot, now=market_now(), **filters)
    url = reverse("cockpit-bot-snapshot", args=[bot.name]) + _query(filters)
    context = page_context(snap, snapshot_url=url, nav="bot", user=request.user)
    context["statuses"] = Trade.Status.values
    return render(request, "dashboard/cockpit/bot.html", context)


@staff_member_required
@require_GET
def bot_trades_csv(request: HttpRequest, name: str) -> StreamingHttpResponse:
    """The bot's trades as CSV (``?symbol=``, ``?status=OPEN|CLOSED``), exact values."""
    bot = get_object_or_404(Bot, name=name)
    filters = trade_filters(request)

    class _Echo:
        def write(self, value: str) -> str:
            return value

    writer = csv.writer(_Echo())
    rows = (writer.writerow(row) for row in trades_csv_rows(bot=bot, **filters))
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    suffix = "".join(f"-{v.lower()}" for v in filters.values() if v)
    response["Content-Disposition"] = f'attachment; filename="{bot.name}-trades{suffix}.csv"'
    return response


@staff_member_required
@require_GET
def portfolio(request: HttpRequest) -> HttpResponse:
    snap = portfolio_snapshot(now=market_now())
    context = page_context(
        snap,
        snapshot_url=reverse("cockpit-portfolio-snapshot"),
        nav="portfolio",
        user=request.user,
    )
    return render(request, "dashboard/cockpit/portfolio.html", context)


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for ``/favicon.ico`` on every page (the admin's too): no 404 in the console."""
    try:
        return HttpResponseRedirect(static("dashboard/favicon.svg"))
    except ValueError:  # static files not collected (manifest storage): nothing to show
        return HttpResponse(status=204)
