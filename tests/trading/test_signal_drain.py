"""Webhook signals on the worker: one hold of the bot's lease decides every waiting signal with
the venue opened once; a signal that meets a busy bot is decided by the holder once it releases
the bot, without its task retrying; nothing is refused as stale because it waited for a cycle."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest
from celery.signals import task_prerun, task_retry
from django.utils import timezone

import apps.trading.engine.signals as engine_signals
from apps.bots.lease import bot_lock
from apps.bots.models import Bot
from apps.orders.models import Order
from apps.trading.engine.signals import _Drain, signals_serve
from apps.trading.engine.sweep import signals_sweep
from apps.trading.models import BotCycle, PaperExchange, Position, Signal
from apps.trading.paper import paper_session_load
from apps.trading.tasks import signal_process
from tests.webhook.conftest import eager, signal_bot  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)


def _accepted(bot: Bot, action: str, *, age_s: float = 0, n: int = 0) -> Signal:
    return Signal.objects.create(
        bot=bot,
        source=Signal.Source.WEBHOOK,
        symbol="BTCUSDT",
        action=action,
        alert_id=f"a-{n}",
        payload={"action": action, "symbol": "BTCUSDT", "quote_amount": "300"},
        outcome=Signal.Outcome.ACCEPTED,
        signal_time=timezone.now() - timedelta(seconds=age_s),
    )


@pytest.fixture
def venue_opens(monkeypatch) -> list[int]:
    """The bots whose venue the signal worker opened, once per opening (the real venue)."""
    opened: list[int] = []
    real = engine_signals.venue_open

    def counting(*, bot, now, run):
        opened.append(bot.pk)
        return real(bot=bot, now=now, run=run)

    monkeypatch.setattr(engine_signals, "venue_open", counting)
    return opened


@pytest.fixture
def task_runs() -> Counter[str]:
    """How often ``trading.signal_process`` started, and was retried (Celery's own signals)."""
    seen: Counter[str] = Counter()

    def started(sender=None, **kwargs):
        if getattr(sender, "name", "") == "trading.signal_process":
            seen["runs"] += 1

    def retried(sender=None, **kwargs):
        if getattr(sender, "name", "") == "trading.signal_process":
            seen["retries"] += 1

    task_prerun.connect(started, weak=False)
    task_retry.connect(retried, weak=False)
    yield seen
    task_prerun.disconnect(started)
    task_retry.disconnect(retried)


def test_signals_arriving_during_a_cycle_are_decided_on_release_without_retries(
    signal_bot,  # noqa: F811
    eager,  # noqa: F811
    task_runs,
    venue_opens,
) -> None:
    actions = ["buy", "close"] * 4
    with bot_lock(signal_bot.pk):  # a candle cycle holds the bot
        signals = []
        for i, action in enumerate(actions):
            signals.append(_accepted(signal_bot, action, n=i))
            signal_process.delay(signals[-1].pk)  # the webhook hands each one over
        # every task found the bot busy and returned: nothing decided, nothing retried
        assert Signal.objects.filter(outcome=Signal.Outcome.ACCEPTED).count() == len(actions)
        assert task_runs == {"runs": len(actions)}
    # released: the holder handed the oldest waiting signal over; that task decided them all
    outcomes = [Signal.objects.get(pk=s.pk).outcome for s in signals]
    assert outcomes == [Signal.Outcome.PLACED] * len(actions), [
        (s.action, s.outcome, s.detail) for s in Signal.objects.order_by("pk")
    ]
    assert task_runs == {"runs": len(actions) + 1}  # one hand-over, no retry
    assert venue_opens == [signal_bot.pk]  # one drain, the venue opened once
    assert Order.objects.filter(signals__in=signals).distinct().count() == len(actions)
    assert (
        Position.objects.filter(bot=signal_bot, symbol="BTCUSDT").exclude(quantity=0).count() == 0
    )


def test_one_drain_opens_the_venue_once_and_refuses_stale_signals_without_it(
    signal_bot,  # noqa: F811
    venue_opens,
) -> None:
    stale = [_accepted(signal_bot, "buy", age_s=600, n=i) for i in range(3)]
    assert signals_serve(bot_id=signal_bot.pk) == 3
    assert venue_opens == []  # refused from their rows alone
    for signal in stale:
        signal.refresh_from_db()
        assert signal.outcome == Signal.Outcome.REJECTED
        assert "s old, more than 60 s" in signal.detail, signal.detail

    fresh = [_accepted(signal_bot, a, n=10 + i) for i, a in enumerate(["buy", "close", "buy"])]
    assert signals_serve(bot_id=signal_bot.pk) == 3
    assert venue_opens == [signal_bot.pk]
    assert [Signal.objects.get(pk=s.pk).outcome for s in fresh] == [Signal.Outcome.PLACED] * 3
    # the simulated exchange saved with each decision: it holds the last buy's position
    position = Position.objects.get(bot=signal_bot, symbol="BTCUSDT")
    assert position.quantity > 0
    session = paper_session_load(bot=signal_bot, now=timezone.now())
    held = asyncio.run(session.exchange.positions("BTCUSDT"))
    assert len(held) == 1 and held[0].quantity == position.quantity


def test_a_drain_opens_the_venue_again_when_another_actor_saved_it(
    signal_bot,  # noqa: F811
    venue_opens,
) -> None:
    first, second = _accepted(signal_bot, "buy", n=1), _accepted(signal_bot, "close", n=2)
    with bot_lock(signal_bot.pk, notify=False) as lease:
        drain = _Drain(Bot.objects.get(pk=signal_bot.pk), lease)
        try:
            drain.decide(Signal.objects.select_related("bot").get(pk=first.pk), timezone.now())
            # another actor (a cycle of another worker, the kill switch) saves the exchange
            session = paper_session_load(bot=signal_bot, now=timezone.now())
            session.save()
            drain.decide(Signal.objects.select_related("bot").get(pk=second.pk), timezone.now())
        finally:
            drain.close()
    assert venue_opens == [signal_bot.pk, signal_bot.pk]  # its copy was not the bot's state
    assert Signal.objects.get(pk=second.pk).outcome == Signal.Outcome.PLACED
    assert PaperExchange.objects.filter(bot=signal_bot).count() == 1


def test_a_signal_stored_as_the_holder_releases_the_bot_is_decided_by_that_holder(
    signal_bot,  # noqa: F811
    monkeypatch,
) -> None:
    first = _accepted(signal_bot, "buy", n=1)
    late: list[Signal] = []
    real = engine_signals.signals_drain

    def drain_then_one_arrives(**kwargs):
        decided = real(**kwargs)
        if not late:  # after the drain's last look, before the release
            late.append(_accepted(signal_bot, "close", n=2))
        return decided

    monkeypatch.setattr(engine_signals, "signals_drain", drain_then_one_arrives)
    assert signals_serve(bot_id=signal_bot.pk) == 2
    assert Signal.objects.get(pk=first.pk).outcome == Signal.Outcome.PLACED
    assert Signal.objects.get(pk=late[0].pk).outcome == Signal.Outcome.PLACED


def test_the_sweep_leaves_waiting_signals_to_the_bots_lease_holder(signal_bot) -> None:  # noqa: F811
    waiting = _accepted(signal_bot, "buy")
    Signal.objects.filter(pk=waiting.pk).update(received_at=timezone.now() - timedelta(seconds=8))
    sent: list[int] = []
    with bot_lock(signal_bot.pk, notify=False):  # a holder: it looks once it releases the bot
        signals_sweep(wall=timezone.now(), dispatch=sent.append)
        assert sent == []
    signals_sweep(wall=timezone.now(), dispatch=sent.append)  # nobody holds it: handed over
    assert sent == [waiting.pk]


def test_a_stream_of_signals_leaves_the_candle_cycles_their_turn(signal_bot, settings) -> None:  # noqa: F811
    settings.MARKET_REPLAY_START = "2025-09-20T06:00:00+00:00"
    settings.MARKET_REPLAY_SPEED = 36_000.0  # a 1h candle closes every 0.1 s of real time
    signals = [_accepted(signal_bot, a, n=i) for i, a in enumerate(["buy", "close"] * 3)]
    signals_serve(bot_id=signal_bot.pk)
    outcomes = {Signal.objects.get(pk=s.pk).outcome for s in signals}
    assert outcomes == {Signal.Outcome.PLACED}, outcomes
    # the drain stopped at each candle's close, and the candle's cycle ran before it went on
    assert BotCycle.objects.filter(bot=signal_bot).exclude(status=BotCycle.Status.RUNNING).exists()
