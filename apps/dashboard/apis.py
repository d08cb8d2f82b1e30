"""The cockpit's JSON endpoints (staff only): each page's snapshot, and the operator's actions
(pause, resume, kill switch) through the bots' and the engine's own services.

Each action needs its permission (``apps.bots.access``: the model permission or a per-bot
grant; the platform-wide kill switch ``bots.engage_killswitch_all``) and is recorded in the
admin log with its actor.

Errors answer with the API's one body, ``{"message", "code", "extra"}``, and a one-line
message: 403 for a user who is not staff, lacks the action's permission, or sends no valid
CSRF token, 404 for an unknown bot, 405 for a GET to an action, 409 when the bot cannot do
what was asked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.template.loader import render_to_string
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from apps.bots import access
from apps.bots.models import Bot
from apps.bots.services import BotStateError, bot_pause, bot_resume
from apps.dashboard.cockpit.bot import bot_snapshot
from apps.dashboard.cockpit.overview import overview_snapshot
from apps.dashboard.cockpit.portfolio import portfolio_snapshot
from apps.dashboard.views import SECTIONS, bot_context, cockpit_permissions, trade_filters
from apps.market.clock import market_now

logger = logging.getLogger(__name__)
View = Callable[..., HttpResponse]


def error(message: str, *, code: str, status: int, **extra: Any) -> JsonResponse:
    return JsonResponse({"message": message, "code": code, "extra": extra}, status=status)


class _JsonCsrf(CsrfViewMiddleware):
    """Django's own CSRF check, answering in the API's error body instead of an HTML page."""

    def _reject(self, request: HttpRequest, reason: str) -> HttpResponse:
        return error(
            f"CSRF check failed ({reason}); reload the page and try again",
            code="csrf_failed",
            status=403,
        )


def staff_json(view: View) -> View:
    """Staff only; anything else gets a 403 with no figures."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            return error("staff only: log in at /admin/login/", code="forbidden", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def action(view: View) -> View:
    """A POST from a staff user carrying the CSRF token (header ``X-CSRFToken``)."""

    @csrf_exempt  # checked below, after the staff check, so every refusal is JSON
    @never_cache
    @wraps(view)
    @staff_json
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method != "POST":
            response = error("use POST", code="method_not_allowed", status=405)
            response["Allow"] = "POST"
            return response
        refused = _JsonCsrf(lambda r: HttpResponse()).process_view(request, None, (), {})
        if refused is not None:
            return refused
        return view(request, *args, **kwargs)

    return wrapper


def _with_sections(
    request: HttpRequest, page: str, snap: dict[str, Any], context: dict[str, Any]
) -> JsonResponse:
    context = {**context, "can": cockpit_permissions(request.user)}
    html = {key: render_to_string(name, context) for key, name in SECTIONS[page].items()}
    return JsonResponse({**snap, "html": html})


def _refused(what: str) -> JsonResponse:
    return error(f"you may not {what} (ask an administrator)", code="forbidden", status=403)


def _bot(name: str) -> Bot | None:
    return Bot.objects.select_related("account", "strategy").filter(name=name).first()


@never_cache
@staff_json
def snapshot(request: HttpRequest) -> HttpResponse:
    """The overview's figures (and its sections rendered, for the page to swap in)."""
    snap = overview_snapshot(now=market_now())
    return _with_sections(request, "overview", snap, {"snap": snap})


@never_cache
@staff_json
def bot_snapshot_api(request: HttpRequest, name: str) -> HttpResponse:
    bot = _bot(name)
    if bot is None:
        return error(f"no bot named {name!r}", code="not_found", status=404)
    snap = bot_snapshot(bot=bot, now=market_now(), **trade_filters(request))
    return _with_sections(request, "bot", snap, bot_context(snap))


@never_cache
@staff_json
def portfolio_snapshot_api(request: HttpRequest) -> HttpResponse:
    snap = portfolio_snapshot(now=market_now())
    return _with_sections(request, "portfolio", snap, {"snap": snap})


def _state(bot: Bot) -> dict[str, str]:
    return {
        "bot": bot.name,
        "state": bot.state,
        "cause": bot.state_cause,
        "reason": bot.state_reason,
    }


@action
def bot_pause_api(request: HttpRequest, name: str) -> HttpResponse:
    bot = _bot(name)
    if bot is None:
        return error(f"no bot named {name!r}", code="not_found", status=404)
    if not access.may_bot(request.user, access.PAUSE, bot):
        return _refused(f"pause {bot.name}")
    bot = bot_pause(bot=bot, reason=f"paused from the cockpit by {request.user}")
    access.action_record(user=request.user, obj=bot, message="paused (cockpit)")
    return JsonResponse({"message": f"{bot.name} paused", **_state(bot)})


@action
def bot_resume_api(request: HttpRequest, name: str) -> HttpResponse:
    bot = _bot(name)
    if bot is None:
        return error(f"no bot named {name!r}", code="not_found", status=404)
    if not access.may_bot(request.user, access.PAUSE, bot):
        return _refused(f"resume {bot.name}")
    try:
        bot = bot_resume(bot=bot)
    except BotStateError as exc:
        return error(str(exc), code="conflict", status=409)
    access.action_record(user=request.user, obj=bot, message="resumed (cockpit)")
    return JsonResponse({"message": f"{bot.name} resumed", **_state(bot)})


def _kill(request: HttpRequest, names: list[str] | None) -> HttpResponse:
    from apps.trading.engine import killswitch_engage

    try:
        reports = killswitch_engage(
            reason=f"kill switch from the cockpit by {request.user}",
            now=market_now(),
            bot_names=names,
        )
    except ValueError as exc:
        return error(str(exc), code="invalid", status=400)
    bots = Bot.objects.all() if names is None else Bot.objects.filter(name__in=names)
    for bot in bots:
        access.action_record(user=request.user, obj=bot, message="kill switch (cockpit)")
    lines = []
    for r in reports:
        if r.error:
            lines.append(f"{r.bot}: FAILED ({r.error})")
        else:
            lines.append(
                f"{r.bot}: closed {r.positions_closed} position(s), canceled "
                f"{r.orders_canceled} order(s); left open: {r.open_orders_left} order(s), "
                f"{r.open_positions_left} position(s); halted"
            )
    failed = any(r.error or r.open_orders_left or r.open_positions_left for r in reports)
    body = {
        "message": "; ".join(lines) or "no bot to stop",
        "ok": not failed,
        "reports": [
            {
                "bot": r.bot,
                "orders_canceled": r.orders_canceled,
                "positions_closed": r.positions_closed,
                "open_orders_left": r.open_orders_left,
                "open_positions_left": r.open_positions_left,
                "notes": list(r.notes),
                "error": r.error,
            }
            for r in reports
        ],
    }
    return JsonResponse(body, status=502 if failed else 200)


@action
def bot_kill_api(request: HttpRequest, name: str) -> HttpResponse:
    bot = _bot(name)
    if bot is None:
        return error(f"no bot named {name!r}", code="not_found", status=404)
    if not access.may_bot(request.user, access.KILLSWITCH, bot):
        return _refused(f"fire the kill switch for {bot.name}")
    return _kill(request, [name])


@action
def kill_all_api(request: HttpRequest) -> HttpResponse:
    """The platform-wide kill switch: every bot."""
    if not access.may(request.user, access.KILLSWITCH_ALL):
        return _refused("fire the kill switch for every bot")
    return _kill(request, None)
