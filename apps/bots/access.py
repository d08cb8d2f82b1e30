"""Who may do what: the operator's actions, their Django permissions, per-bot grants, and the
record of who did it (docs/security.md).

Every place an action can be triggered (admin actions, the DRF API, the cockpit) asks here, so
the rules are one table. Management commands are not checked: shell access is root.

- A model permission (``bots.engage_killswitch``, ...) allows the action on every bot.
- A ``BotGrant`` allows ``pause_bot`` or ``engage_killswitch`` on one bot only.
- Superusers hold every permission (Django's own rule); inactive users hold none.
- The user must be staff as well: the admin, the API and the cockpit are staff-only doors.

The actor of every action is written to Django's admin log (``LogEntry``: who, when, which
row, what), shown under "Recent actions" and in the admin's log; the services' own records
(``state_reason``, ``decided_by``, ``created_by``) name the user too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models
from rest_framework.permissions import BasePermission

from apps.bots.models import Bot, BotGrant

PAUSE = "bots.pause_bot"
KILLSWITCH = "bots.engage_killswitch"
KILLSWITCH_ALL = "bots.engage_killswitch_all"
START_BACKTEST = "backtest.start_backtest"
APPROVE_REOPTIMIZATION = "backtest.approve_reoptimization"
TRAIN_MODEL = "ai.train_model"
PROMOTE_MODEL = "ai.promote_model"

#: The permissions a BotGrant can give for one bot.
GRANTABLE = {PAUSE: BotGrant.Permission.PAUSE, KILLSWITCH: BotGrant.Permission.KILLSWITCH}


def is_operator(user: Any) -> bool:
    """Logged in, active and staff: may open the admin, the API and the cockpit."""
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


def may(user: Any, perm: str) -> bool:
    """A staff user holding ``perm`` (``app_label.codename``) for every object."""
    return is_operator(user) and user.has_perm(perm)


def bots_allowed(user: Any, perm: str) -> models.QuerySet[Bot] | None:
    """The bots ``user`` may do ``perm`` to through per-bot grants; ``None`` for every bot
    (the model permission)."""
    if may(user, perm):
        return None
    if not is_operator(user) or perm not in GRANTABLE:
        return Bot.objects.none()
    return Bot.objects.filter(grants__user=user, grants__permission=GRANTABLE[perm])


def may_some_bot(user: Any, perm: str) -> bool:
    """``user`` may do ``perm`` to at least one bot (shows the button, opens the door)."""
    allowed = bots_allowed(user, perm)
    return allowed is None or allowed.exists()


def may_bot(user: Any, perm: str, bot: Bot) -> bool:
    """``user`` may do ``perm`` to ``bot`` (the model permission, or a grant for this bot)."""
    allowed = bots_allowed(user, perm)
    return allowed is None or allowed.filter(pk=bot.pk).exists()


def bots_refused(user: Any, perm: str, bots: Iterable[Bot]) -> list[Bot]:
    """Those of ``bots`` that ``user`` may not do ``perm`` to."""
    allowed = bots_allowed(user, perm)
    if allowed is None:
        return []
    ok = set(allowed.values_list("pk", flat=True))
    return [bot for bot in bots if bot.pk not in ok]


def grant_names(user: Any, perm: str) -> set[str] | None:
    """The names of the bots ``user`` may do ``perm`` to; ``None``: every bot."""
    allowed = bots_allowed(user, perm)
    return None if allowed is None else set(allowed.values_list("name", flat=True))


def action_record(*, user: Any, obj: models.Model, message: str) -> None:
    """Write who did what to which row into the admin log (the actor of every action)."""
    if not getattr(user, "is_authenticated", False):
        return
    LogEntry.objects.log_actions(
        user_id=user.pk,
        queryset=[obj],
        action_flag=CHANGE,
        change_message=message[:1000],
        single_object=True,
    )


def action_log(obj: models.Model) -> models.QuerySet[LogEntry]:
    """The recorded actions on ``obj``, newest first."""
    return LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=False),
        object_id=str(obj.pk),
    ).order_by("-action_time", "-pk")


class ActionPermission(BasePermission):
    """DRF: staff, and for a write the view's ``action_permissions[method]`` (the named
    custom permission, as ``DjangoModelPermissions`` does with add/change/delete). Reads
    need staff only; per-bot checks happen in the view, once it knows the bots."""

    message = "you lack the permission for this action (ask an administrator)"

    def has_permission(self, request: Any, view: Any) -> bool:
        if not is_operator(request.user):
            return False
        perms: dict[str, str] = getattr(view, "action_permissions", {})
        perm = perms.get(request.method or "")
        return perm is None or request.user.has_perm(perm)
