"""The kill switch from the admin, the API and `manage.py killswitch`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.bots.models import Bot
from apps.orders.models import Order
from apps.trading.engine.sweep import restarts_sweep
from apps.trading.models import Position
from tests.trading.test_engine_seed import _bot, _replay

pytestmark = pytest.mark.django_db


@pytest.fixture
def open_bot(shared_data) -> Bot:
    bot = _replay(_bot("kill-me", symbols=("BTCUSDT",)), 12, shared_data)
    assert Position.objects.filter(bot=bot).exclude(quantity=0).exists()
    return bot


def _flat(bot: Bot) -> bool:
    return (
        not Position.objects.filter(bot=bot).exclude(quantity=0).exists()
        and not Order.objects.filter(bot=bot, status__in=["NEW", "PARTIALLY_FILLED"]).exists()
    )


def test_killswitch_command_with_open_position_flattens_and_halts(open_bot) -> None:
    out = StringIO()
    call_command("killswitch", bot=[open_bot.name], reason="drill", stdout=out)
    assert "closed 1 position(s); left open: 0 order(s), 0 position(s); halted" in out.getvalue()
    open_bot.refresh_from_db()
    assert open_bot.state == Bot.State.HALTED and _flat(open_bot)


def test_killswitch_command_with_unknown_bot_fails_in_one_line() -> None:
    with pytest.raises(CommandError, match="unknown bot\\(s\\): nobody"):
        call_command("killswitch", bot=["nobody"], stdout=StringIO())


def test_killswitch_command_without_bot_or_all_refuses_in_one_line() -> None:
    with pytest.raises(CommandError, match="pass --all for every bot"):
        call_command("killswitch", reason="oops", stdout=StringIO())


def test_killswitch_api_without_bots_or_all_is_400(admin_client_logged, open_bot) -> None:
    response = admin_client_logged.post(
        "/api/killswitch/", {"reason": "no target"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "all: true" in str(response.json()["extra"]["fields"])
    assert Position.objects.filter(bot=open_bot).exclude(quantity=0).exists()


def test_killswitch_api_with_admin_flattens_and_reports(admin_client_logged, open_bot) -> None:
    response = admin_client_logged.post(
        "/api/killswitch/",
        {"bots": [open_bot.name], "reason": "api drill"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    [report] = response.json()
    assert report["positions_closed"] == 1 and report["open_positions_left"] == 0
    open_bot.refresh_from_db()
    assert "api drill" in open_bot.state_reason and _flat(open_bot)
    assert open_bot.state_cause == Bot.Cause.KILL_SWITCH  # never restarted by the sweep
    Bot.objects.filter(pk=open_bot.pk).update(restart_at=datetime.now(tz=UTC))
    assert restarts_sweep(now=datetime.now(tz=UTC) + timedelta(seconds=1)) == []


def test_killswitch_api_without_reason_is_400_and_changes_nothing(
    admin_client_logged, open_bot
) -> None:
    response = admin_client_logged.post(
        "/api/killswitch/", {"bots": [open_bot.name]}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["extra"]["fields"]["reason"]
    assert Position.objects.filter(bot=open_bot).exclude(quantity=0).exists()


def test_killswitch_admin_action_asks_for_confirmation_then_flattens(
    admin_client_logged, open_bot
) -> None:
    asked = admin_client_logged.post(
        "/admin/bots/bot/", {"action": "emergency_close", "_selected_action": [open_bot.pk]}
    )
    page = asked.content.decode()
    assert asked.status_code == 200 and "Kill switch: are you sure?" in page
    assert open_bot.name in page and "1 open position(s)" in page
    assert Position.objects.filter(bot=open_bot).exclude(quantity=0).exists()  # nothing yet
    response = admin_client_logged.post(
        "/admin/bots/bot/",
        {
            "action": "emergency_close",
            "_selected_action": [open_bot.pk],
            "confirm": "yes",
            "reason": "drill from the admin",
        },
        follow=True,
    )
    assert "closed 1 position(s)" in response.content.decode()
    open_bot.refresh_from_db()
    assert open_bot.state == Bot.State.HALTED and _flat(open_bot)
    assert datetime.now(tz=UTC) >= open_bot.state_changed_at


def test_cycle_with_critical_error_flattens_halts_and_schedules_restart(
    open_bot, monkeypatch
) -> None:
    import apps.trading.engine as engine
    import apps.trading.engine.cycle as engine_cycle

    def explode(*args, **kwargs):
        raise RuntimeError("exchange state corrupted")

    Bot.objects.filter(pk=open_bot.pk).update(state=Bot.State.RUNNING)
    monkeypatch.setattr(engine_cycle._Decider, "decide", explode)
    t = 1704067200000 + 13 * 3_600_000
    now = datetime.fromtimestamp((t + 3_600_000) / 1000, tz=UTC)
    before = datetime.now(tz=UTC)
    result = engine.bot_cycle_run(bot_id=open_bot.pk, symbol="BTCUSDT", candle_open_time=t, now=now)
    assert result.outcome == "error" and "exchange state corrupted" in result.detail
    open_bot.refresh_from_db()
    assert open_bot.state == Bot.State.HALTED and _flat(open_bot)
    assert open_bot.state_cause == Bot.Cause.CRITICAL_ERROR
    delay = (open_bot.restart_at - before).total_seconds()
    assert 59 <= delay <= 61  # kept on the row, resumed by the scheduler's sweep
    assert restarts_sweep(now=open_bot.restart_at - timedelta(seconds=1)) == []
    assert restarts_sweep(now=open_bot.restart_at) == [open_bot.name]
    open_bot.refresh_from_db()
    assert open_bot.state == Bot.State.RUNNING and open_bot.restart_at is None
    before = datetime.now(tz=UTC)
    engine.bot_cycle_run(
        bot_id=open_bot.pk,
        symbol="BTCUSDT",
        candle_open_time=t + 3_600_000,
        now=datetime.fromtimestamp((t + 7_200_000) / 1000, tz=UTC),
    )
    open_bot.refresh_from_db()
    assert 119 <= (open_bot.restart_at - before).total_seconds() <= 121  # doubled


def test_restart_delay_with_repeated_failures_backs_off_to_an_hour() -> None:
    from apps.trading.engine import restart_delay

    assert [restart_delay(n) for n in (1, 2, 3, 7, 20)] == [60, 120, 240, 3600, 3600]


def test_bot_restart_with_bot_halted_by_a_person_leaves_it_halted(open_bot) -> None:
    from apps.bots.services import bot_halt, bot_restart_schedule
    from apps.trading.tasks import bot_restart

    bot_halt(bot=open_bot, reason="halted by ops for maintenance")
    bot_restart_schedule(bot=open_bot, delay_s=-1)
    bot_restart(open_bot.pk)
    open_bot.refresh_from_db()
    assert open_bot.state == Bot.State.HALTED
