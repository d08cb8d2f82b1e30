"""The permission matrix (issue 16): every operator action through every door it has (admin
action, DRF API, cockpit) for every role, over real HTTP requests (Django's test client).

Roles: anonymous; staff without a permission; staff with the action's model permission; staff
with a per-bot grant for *another* bot only (``beta``, the actions aim at ``alpha``); superuser.
A refused request answers 403 (or a redirect to the login page, or the admin's "No action
selected" / "Not allowed" redirect) and changes nothing, not even the action log; an allowed
one does what it says and records its actor in the admin log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core import mail
from django.test import Client

from apps.ai.models import ModelArtifact, ModelPromotion, RetrainRun
from apps.backtest.models import BacktestRun, ReoptimizationRun
from apps.bots.models import Bot, BotGrant
from apps.monitoring.models import Alert, NotificationChannel
from tests.factories import make_bot

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "staff", "perm", "grant_other", "superuser"]
ALLOWED_ROLES = {"perm", "superuser"}


@dataclass
class World:
    alpha: Bot
    beta: Bot
    clients: dict[str, Client]
    users: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    def bot(self, name: str = "alpha") -> Bot:
        return Bot.objects.get(name=name)


@dataclass(frozen=True)
class Action:
    name: str
    perm: str  # app_label.codename
    view_perm: str  # what the admin needs to open the page at all ("" for API / cockpit)
    door: str  # admin | api | cockpit | page
    setup: Callable[[World], None]
    do: Callable[[Client, World], Any]
    done: Callable[[World], bool]  # the action's effect is there
    grantable: bool = False


def _perm(name: str) -> Permission:
    app_label, codename = name.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def _user(username: str, *, perms: tuple[str, ...] = (), **flags: Any):
    user = get_user_model().objects.create_user(username, password="pw-123456", **flags)
    for name in perms:
        user.user_permissions.add(_perm(name))
    return user


VIEW_PERMS = (
    "bots.view_bot",
    "backtest.view_reoptimizationrun",
    "ai.view_modelartifact",
    "ai.view_retrainrun",
    "ai.view_modelpromotion",
    "monitoring.view_alert",
    "monitoring.view_notificationchannel",
)


def _world(action: Action) -> World:
    alpha = make_bot("alpha", state=Bot.State.RUNNING)
    beta = make_bot("beta", state=Bot.State.RUNNING)
    views = (action.view_perm,) if action.view_perm else ()
    users = {
        "anonymous": None,
        "staff": _user("staff", is_staff=True),
        "perm": _user("perm", is_staff=True, perms=(action.perm, *views)),
        "grant_other": _user("grant", is_staff=True, perms=VIEW_PERMS),
        "superuser": get_user_model().objects.create_superuser("root", "r@example.com", "pw"),
    }
    for permission in BotGrant.Permission.values:
        BotGrant.objects.create(user=users["grant_other"], bot=beta, permission=permission)
    clients = {}
    for role, user in users.items():
        client = Client()
        if user is not None:
            client.force_login(user)
        clients[role] = client
    world = World(alpha=alpha, beta=beta, clients=clients, users=users)
    action.setup(world)
    return world


# --- the actions ---------------------------------------------------------------------------------
def _nothing(world: World) -> None:
    return None


def _paused(world: World) -> None:
    Bot.objects.filter(name="alpha").update(state=Bot.State.PAUSED)


def _admin_action(model: str, action: str, pks: Callable[[World], list[int]], **extra: str):
    def do(client: Client, world: World) -> Any:
        data = {"action": action, "_selected_action": [str(pk) for pk in pks(world)], **extra}
        return client.post(f"/admin/{model}/", data)

    return do


def _alpha(world: World) -> list[int]:
    return [world.alpha.pk]


def _post_json(url: str, body: dict[str, Any] | None = None):
    def do(client: Client, world: World) -> Any:
        return client.post(url, body or {}, content_type="application/json")

    return do


def _state(state: str, bot: str = "alpha") -> Callable[[World], bool]:
    return lambda world: world.bot(bot).state == state


def _all_halted(world: World) -> bool:
    return all(b.state == Bot.State.HALTED for b in Bot.objects.all())


def _awaiting_run(world: World) -> None:
    run = ReoptimizationRun.objects.create(
        bot=world.alpha,
        active_strategy=world.alpha.strategy,
        active_params={},
        candidate_params={"fast": 8, "slow": 21},
        active_score=0.5,
        candidate_score=1.5,
        margin=0.1,
        decision=ReoptimizationRun.Decision.AWAITING,
    )
    world.extra["run"] = run


def _promoted_run(world: World) -> None:
    from apps.strategies.models import Strategy

    old = world.alpha.strategy
    new = Strategy.objects.create(name="ema-reopt", kind=old.kind, mode=old.mode, parameters={})
    Bot.objects.filter(pk=world.alpha.pk).update(strategy=new)
    world.extra["run"] = ReoptimizationRun.objects.create(
        bot=world.alpha,
        active_strategy=old,
        new_strategy=new,
        active_params={},
        candidate_params={},
        decision=ReoptimizationRun.Decision.PROMOTED,
    )


def _candidate_model(world: World) -> None:
    world.extra["model"] = ModelArtifact.objects.create(
        kind=ModelArtifact.Kind.PPO, status=ModelArtifact.Status.CANDIDATE
    )


def _retrain_kept(world: World) -> None:
    world.extra["retrain"] = RetrainRun.objects.create(
        bot=world.alpha, slot="agent", decision=RetrainRun.Decision.KEPT
    )


def _open_alert(world: World) -> None:
    world.extra["alert"] = Alert.objects.create(
        severity="warning", kind=Alert.Kind.DRAWDOWN, bot=world.alpha, message="matrix",
        dedup_key="drawdown:alpha:",
    )  # fmt: skip


def _mail_channel(world: World) -> None:
    mail.outbox.clear()
    world.extra["channel"] = NotificationChannel.objects.create(
        name="desk", kind=NotificationChannel.Kind.EMAIL, email_recipients="desk@example.com"
    )


def _backtest_body(world: World) -> dict[str, Any]:
    return {"strategy": "ema_cross", "data": ["futures/ETHUSDT-1h.csv.gz"]}


ACTIONS = [
    # the cockpit's buttons (JSON POSTs)
    Action("cockpit pause", "bots.pause_bot", "", "cockpit", _nothing,
           _post_json("/api/cockpit/bots/alpha/pause/"), _state(Bot.State.PAUSED), True),
    Action("cockpit resume", "bots.pause_bot", "", "cockpit", _paused,
           _post_json("/api/cockpit/bots/alpha/resume/"), _state(Bot.State.RUNNING), True),
    Action("cockpit kill", "bots.engage_killswitch", "", "cockpit", _nothing,
           _post_json("/api/cockpit/bots/alpha/kill/"), _state(Bot.State.HALTED), True),
    Action("cockpit kill all", "bots.engage_killswitch_all", "", "cockpit", _nothing,
           _post_json("/api/cockpit/killswitch/"), _all_halted),
    # the DRF API
    Action("api kill", "bots.engage_killswitch", "", "api", _nothing,
           _post_json("/api/killswitch/", {"bots": ["alpha"], "reason": "matrix"}),
           _state(Bot.State.HALTED), True),
    Action("api kill all", "bots.engage_killswitch_all", "", "api", _nothing,
           _post_json("/api/killswitch/", {"all": True, "reason": "matrix"}), _all_halted),
    Action("api backtest start", "backtest.start_backtest", "", "api", _nothing,
           lambda c, w: c.post("/api/backtests/", _backtest_body(w),
                               content_type="application/json"),
           lambda w: BacktestRun.objects.exists()),
    # the admin's actions
    Action("admin pause", "bots.pause_bot", "bots.view_bot", "admin", _nothing,
           _admin_action("bots/bot", "pause_bots", _alpha), _state(Bot.State.PAUSED), True),
    Action("admin resume", "bots.pause_bot", "bots.view_bot", "admin", _paused,
           _admin_action("bots/bot", "resume_bots", _alpha), _state(Bot.State.RUNNING), True),
    Action("admin kill", "bots.engage_killswitch", "bots.view_bot", "admin", _nothing,
           _admin_action("bots/bot", "emergency_close", _alpha, confirm="yes", reason="matrix"),
           _state(Bot.State.HALTED), True),
    Action("admin approve reoptimisation", "backtest.approve_reoptimization",
           "backtest.view_reoptimizationrun", "admin", _awaiting_run,
           _admin_action("backtest/reoptimizationrun", "approve",
                         lambda w: [w.extra["run"].pk]),
           lambda w: ReoptimizationRun.objects.get().decision == "promoted"),
    Action("admin roll back reoptimisation", "backtest.approve_reoptimization",
           "backtest.view_reoptimizationrun", "admin", _promoted_run,
           _admin_action("backtest/reoptimizationrun", "roll_back",
                         lambda w: [w.extra["run"].pk]),
           lambda w: ReoptimizationRun.objects.get().rolled_back
           and w.bot().strategy.name == "ema"),
    Action("admin acknowledge alert", "monitoring.change_alert", "monitoring.view_alert",
           "admin", _open_alert,
           _admin_action("monitoring/alert", "acknowledge", lambda w: [w.extra["alert"].pk]),
           lambda w: Alert.objects.get().acknowledged_at is not None),
    Action("admin send test notification", "monitoring.change_notificationchannel",
           "monitoring.view_notificationchannel", "admin", _mail_channel,
           _admin_action("monitoring/notificationchannel", "send_test",
                         lambda w: [w.extra["channel"].pk]),
           lambda w: len(mail.outbox) > 0),
    Action("admin retire model", "ai.promote_model", "ai.view_modelartifact", "admin",
           _candidate_model,
           _admin_action("ai/modelartifact", "retire", lambda w: [w.extra["model"].pk]),
           lambda w: ModelArtifact.objects.get().status == ModelArtifact.Status.RETIRED),
]  # fmt: skip


def _log_entries() -> int:
    return LogEntry.objects.count()


@pytest.fixture
def data_dir(shared_data, settings):
    settings.SHARED_DATA_DIR = shared_data
    return shared_data


def _refusal_ok(action: Action, role: str, response: Any) -> bool:
    status = response.status_code
    if action.door == "admin":
        if role == "anonymous":
            return status == 302 and response["Location"].startswith("/admin/login/")
        if role == "staff":  # not even the view permission: the page is forbidden
            return status == 403
        # "No action selected." / "Not allowed for alpha" (a redirect), or, with no action at
        # all to offer, the list page again (Django ignores the POST)
        return status in (200, 302)
    return status == 403


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ACTIONS, ids=[a.name for a in ACTIONS])
def test_action_by_role_is_allowed_or_refused_without_effect(
    action: Action, role: str, data_dir
) -> None:
    world = _world(action)
    before = _log_entries()
    response = action.do(world.clients[role], world)
    if role in ALLOWED_ROLES:
        assert response.status_code in (200, 202, 302), response.content[:500]
        assert action.done(world), f"{action.name} by {role}: {response.content[:500]!r}"
        actor = world.users[role]
        assert LogEntry.objects.filter(user=actor).exists(), "the actor was not recorded"
    else:
        assert _refusal_ok(action, role, response), (response.status_code, response.content[:300])
        assert not action.done(world), f"{action.name} by {role} changed something"
        assert _log_entries() == before


@pytest.mark.parametrize(
    "action", [a for a in ACTIONS if a.grantable], ids=[a.name for a in ACTIONS if a.grantable]
)
def test_per_bot_grant_allows_its_bot_only(action: Action, data_dir) -> None:
    world = _world(action)
    granted = world.users["grant_other"]
    BotGrant.objects.create(user=granted, bot=world.alpha, permission=action.perm.split(".")[1])
    response = action.do(world.clients["grant_other"], world)
    assert response.status_code in (200, 302), response.content[:500]
    assert action.done(world)
    assert world.bot("beta").state == Bot.State.RUNNING  # the other bot untouched
    assert LogEntry.objects.filter(user=granted, object_id=str(world.alpha.pk)).exists()


def test_cockpit_research_form_needs_start_backtest(data_dir) -> None:
    world = _world(ACTIONS[0])
    form = {
        "strategy": "ema_cross", "params": "", "market": "futures", "symbols": ["ETHUSDT"],
        "interval": "1h", "start": "2024-01-01", "end": "2024-03-01", "fee": "0.0005",
        "maker_fee": "", "stake": "1000", "cash": "10000", "slippage": "none",
        "leverage": "1", "maintenance_margin": "0.004", "intrabar": "stop_first",
    }  # fmt: skip
    anonymous = world.clients["anonymous"].post("/research/", form)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/admin/login/")
    for role in ("staff", "grant_other"):
        page = world.clients[role].get("/research/").content.decode()
        assert 'data-testid="backtest-form"' not in page
        assert 'data-testid="backtest-not-allowed"' in page
        refused = world.clients[role].post("/research/", form)
        assert refused.status_code == 403
    assert not BacktestRun.objects.exists()
    starter = _user("starter", is_staff=True, perms=("backtest.start_backtest",))
    client = Client()
    client.force_login(starter)
    assert 'data-testid="backtest-form"' in client.get("/research/").content.decode()
    started = client.post("/research/", form)
    assert started.status_code == 302, started.content.decode()[:1000]
    run = BacktestRun.objects.get()
    assert run.created_by == starter
    assert LogEntry.objects.filter(user=starter, object_id=str(run.pk)).exists()


def test_model_training_api_needs_train_model() -> None:
    body = {"kind": "ppo", "data": ["futures/NOPE-1h.csv.gz"], "timesteps": 64}
    world = _world(ACTIONS[0])
    for role in ("anonymous", "staff", "grant_other"):
        response = world.clients[role].post(
            "/api/models/train/", body, content_type="application/json"
        )
        assert response.status_code == 403, role
    trainer = _user("trainer", is_staff=True, perms=("ai.train_model",))
    client = Client()
    client.force_login(trainer)
    # past the permission, the request itself is judged (a missing data file: 400)
    answer = client.post("/api/models/train/", body, content_type="application/json")
    assert answer.status_code == 400, answer.content
    assert ModelArtifact.objects.count() == 0


@pytest.mark.parametrize(
    ("role", "offered"),
    [("staff", False), ("grant_other", False), ("perm", True), ("superuser", True)],
)
def test_admin_model_actions_are_offered_only_with_promote_model(role: str, offered: bool) -> None:
    action = next(a for a in ACTIONS if a.name == "admin retire model")
    world = _world(action)
    if role == "perm":
        for name in ("ai.view_retrainrun", "ai.view_modelpromotion"):
            world.users[role].user_permissions.add(_perm(name))
    _retrain_kept(world)
    ModelPromotion.objects.create(  # the list shows its actions only when it has a row
        bot=world.alpha, slot="agent", new=world.extra["model"], decided_by="schedule"
    )
    pages = {
        "/admin/ai/modelartifact/": ("activate", "retire"),
        "/admin/ai/retrainrun/": ("approve",),
        "/admin/ai/modelpromotion/": ("roll_back",),
    }
    for url, names in pages.items():
        response = world.clients[role].get(url)
        if role == "staff":
            assert response.status_code == 403
            continue
        html = response.content.decode()
        for name in names:
            assert (f'value="{name}"' in html) is offered, (url, name)
    approve = world.clients[role].post(
        "/admin/ai/retrainrun/",
        {"action": "approve", "_selected_action": [str(world.extra["retrain"].pk)]},
        follow=True,
    )
    text = approve.content.decode()
    if offered:
        assert "nothing awaits approval" in text
    elif role != "staff":  # no action to offer: the POST is ignored, the run stays as it was
        assert "nothing awaits approval" not in text
        assert RetrainRun.objects.get().decision == RetrainRun.Decision.KEPT


def test_cockpit_pages_show_only_the_buttons_the_user_may_use(data_dir) -> None:
    world = _world(ACTIONS[0])
    beta_only = world.clients["grant_other"].get("/").content.decode()
    assert 'data-testid="kill-all"' not in beta_only
    assert 'data-post="/api/cockpit/bots/beta/kill/"' in beta_only
    assert 'data-post="/api/cockpit/bots/alpha/kill/"' not in beta_only
    assert 'data-post="/api/cockpit/bots/alpha/pause/"' not in beta_only
    bare = world.clients["staff"].get("/").content.decode()
    assert "data-post=" not in bare
    root = world.clients["superuser"].get("/").content.decode()
    assert 'data-testid="kill-all"' in root and 'data-post="/api/cockpit/bots/alpha/kill/"' in root
    snapshot = world.clients["grant_other"].get("/api/cockpit/snapshot/").json()
    assert (
        "/api/cockpit/bots/alpha/"
        not in snapshot["html"]["bots"].replace('/api/cockpit/bots/alpha/"', "")
        or 'data-post="/api/cockpit/bots/alpha/kill/"' not in snapshot["html"]["bots"]
    )
    assert 'data-post="/api/cockpit/bots/beta/kill/"' in snapshot["html"]["bots"]
