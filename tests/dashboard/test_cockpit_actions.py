"""The cockpit's buttons: pause, resume, kill switch (one bot, every bot): POST, CSRF token,
staff only, JSON answers, and they act through the bots' and the engine's services."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.bots.models import Bot
from apps.orders.models import Order
from apps.trading.models import Position
from tests.dashboard.conftest import operator_user
from tests.dashboard.dom import parse
from tests.trading.test_engine_seed import _bot, _replay

pytestmark = pytest.mark.django_db

ACTIONS = (
    "/api/cockpit/bots/alpha/pause/",
    "/api/cockpit/bots/alpha/resume/",
    "/api/cockpit/bots/alpha/kill/",
    "/api/cockpit/killswitch/",
)


@pytest.fixture
def csrf_staff(db) -> tuple[Client, str]:
    """A staff user's browser that enforces CSRF, and the token its page carries."""
    user = operator_user("desk")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    page = client.get("/").content.decode()
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    return client, token


@pytest.fixture
def open_bot(shared_data) -> Bot:
    """A paper bot with an open BTCUSDT position and its stop on the simulated exchange (a
    replay's copy, shown on the overview like any bot)."""
    bot = _replay(_bot("kill-me", symbols=("BTCUSDT",)), 12, shared_data)
    Bot.objects.filter(pk=bot.pk).update(rehearsal=False)
    assert Position.objects.filter(bot=bot).exclude(quantity=0).exists()
    return Bot.objects.get(pk=bot.pk)


def _flat(bot: Bot) -> bool:
    return (
        not Position.objects.filter(bot=bot).exclude(quantity=0).exists()
        and not Order.objects.filter(bot=bot, status__in=["NEW", "PARTIALLY_FILLED"]).exists()
    )


@pytest.mark.parametrize("url", ACTIONS)
def test_action_with_get_is_405_and_changes_nothing(staff_client, desk, url) -> None:
    response = staff_client.get(url)
    assert response.status_code == 405 and response.json()["message"] == "use POST"
    assert Bot.objects.get(name="alpha").state == Bot.State.RUNNING


@pytest.mark.parametrize("url", ACTIONS)
def test_action_by_non_staff_or_anonymous_is_403_and_changes_nothing(
    client, plain_client, desk, url
) -> None:
    for who in (client, plain_client):
        response = who.post(url, content_type="application/json")
        assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert Bot.objects.get(name="alpha").state == Bot.State.RUNNING
    assert Position.objects.filter(bot=desk.alpha).exclude(quantity=0).exists()


@pytest.mark.parametrize("url", ACTIONS)
def test_action_without_csrf_token_is_403_and_changes_nothing(csrf_staff, desk, url) -> None:
    client, _token = csrf_staff
    response = client.post(url, content_type="application/json")
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "csrf_failed" and body["message"].startswith("CSRF check failed (")
    assert Bot.objects.get(name="alpha").state == Bot.State.RUNNING


def test_pause_with_csrf_token_pauses_and_publishes_the_state(
    csrf_staff, desk, django_capture_on_commit_callbacks
) -> None:
    client, token = csrf_staff
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            "/api/cockpit/bots/alpha/pause/",
            content_type="application/json",
            HTTP_X_CSRFTOKEN=token,
        )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["message"] == "alpha paused" and body["state"] == "paused"
    assert body["reason"] == "paused from the cockpit by desk" and body["cause"] == "operator"
    alpha = Bot.objects.get(name="alpha")
    assert alpha.state == Bot.State.PAUSED and alpha.state_cause == Bot.Cause.OPERATOR
    assert callbacks  # the bot_state event, sent after commit
    row = parse(client.get("/").content).one("bot-row", bot="alpha")
    assert row.field("state") == "paused" and row.field("cause") == "Operator"


def test_resume_with_csrf_token_resumes(csrf_staff, desk) -> None:
    client, token = csrf_staff
    response = client.post(
        "/api/cockpit/bots/beta/resume/", content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 200 and response.json()["state"] == "running"
    assert Bot.objects.get(name="beta").state == Bot.State.RUNNING


def test_resume_of_disabled_bot_is_409_with_the_reason(csrf_staff, desk) -> None:
    client, token = csrf_staff
    Bot.objects.filter(name="beta").update(enabled=False)
    response = client.post(
        "/api/cockpit/bots/beta/resume/", content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 409
    assert response.json()["message"] == "bot beta is disabled; enable it before resuming"
    assert Bot.objects.get(name="beta").state == Bot.State.PAUSED


def test_action_on_unknown_bot_is_404(csrf_staff, desk) -> None:
    client, token = csrf_staff
    response = client.post(
        "/api/cockpit/bots/nobody/kill/", content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 404 and response.json()["message"] == "no bot named 'nobody'"


def test_kill_with_csrf_token_flattens_the_paper_bot_and_halts_it(csrf_staff, open_bot) -> None:
    client, token = csrf_staff
    before = parse(client.get("/").content)
    assert before.all("position-row", bot=open_bot.name)
    response = client.post(
        f"/api/cockpit/bots/{open_bot.name}/kill/",
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 200, response.content
    body = response.json()
    [report] = body["reports"]
    assert report["positions_closed"] == 1 and report["open_positions_left"] == 0
    assert body["ok"] and "closed 1 position(s)" in body["message"]
    open_bot.refresh_from_db()
    assert open_bot.state == Bot.State.HALTED and open_bot.state_cause == Bot.Cause.KILL_SWITCH
    assert "kill switch from the cockpit by desk" in open_bot.state_reason
    assert _flat(open_bot)
    after = parse(client.get("/").content)
    assert not after.all("position-row") and after.one("open-positions-count").text == "0"
    assert after.one("bot-row", bot=open_bot.name).field("state") == "halted"


def test_kill_all_with_csrf_token_flattens_every_bot(csrf_staff, open_bot) -> None:
    client, token = csrf_staff
    response = client.post(
        "/api/cockpit/killswitch/", content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 200, response.content
    bots = {r["bot"] for r in response.json()["reports"]}
    assert open_bot.name in bots
    open_bot.refresh_from_db()
    assert open_bot.state == Bot.State.HALTED and _flat(open_bot)
