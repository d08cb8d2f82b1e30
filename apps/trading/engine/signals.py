"""Acting on an external signal (the TradingView webhook), on a worker.

The HTTP side (``apps.webhook``) authenticates, validates, de-duplicates and stores the
``Signal`` (outcome ``accepted``), then hands its id to the ``trading.signal_process`` task.
Here, under the bot's lock (one decision of a bot at a time, candle cycles included), the
trading runner acts on it (``apps.trading.domain.signal_step.signal_step``: the same steps a
file of past signals is backtested with) against the bot's venue and the database store, and
the outcome is written on the Signal.

One hold of the lease decides every signal waiting for the bot (a *drain*): the venue, the risk
settings, the runner, the AI setup and the strategy are opened once per drain, not per signal,
and a signal that can be refused from its row alone (the bot is not running, the signal is too
old) is refused before anything is opened. Each decision is still its own transaction (paper:
the simulated exchange is saved with the decision's rows, so a crash never loses a placed
order's record or the exchange state it left).
"""

from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from apps.ai.services import ArtifactError, BotAiSetup
from apps.bots.lease import BotLease, CycleBusy
from apps.bots.models import Bot
from apps.bots.services import bot_pause
from apps.exchange.domain.errors import ExchangeError
from apps.market.clock import market_now
from apps.market.models import Kline
from apps.market.selectors import kline_last_closed_open_time, klines_window
from apps.orders.models import Order
from apps.risk.models import RiskSettings
from apps.strategies.domain.base import CandleArrays, Strategy, StrategyError
from apps.strategies.domain.registry import STRATEGIES, build_strategy
from apps.strategies.domain.signal import SignalStrategy
from apps.trading.domain.cycle import CycleConfig
from apps.trading.domain.signal_step import SignalRefused, signal_step
from apps.trading.engine.ai import ai_record, ai_strategy_for, bot_ai_setup, with_ai
from apps.trading.engine.context import LeaseLost, _Context, bot_lock, logger
from apps.trading.engine.cycle import TRANSIENT, _atomic_for
from apps.trading.models import PaperExchange, Signal
from apps.trading.venues import LiveVenue, PaperVenue, Runner, Venue, venue_open

__all__ = ["signal_process", "signals_drain", "signals_serve", "signals_waiting"]


def signal_process(*, signal_id: int, wall: datetime | None = None) -> Signal:
    """Act on an accepted signal once, after every signal of its bot that arrived before it;
    return it with its outcome.

    Signals of one bot are acted on in the order they arrived (a ``buy`` then a ``close`` never
    turns into a close then a buy), under one hold of the bot's lease: the holder also acts on
    the ones that arrived after, until none waits, so a burst is served by one worker instead
    of each signal's task waiting for the bot in turn. ``wall`` is the real
    time a signal's age is judged by (default: now, for each signal); the venue runs on market
    time (the replayed clock in the demo). Raise ``CycleBusy`` when the bot is busy: its holder
    acts on the signal (it looks for waiting signals once more after releasing the bot); every
    other problem is recorded on the signal.
    """
    signal = Signal.objects.select_related("bot__strategy", "bot__account").get(pk=signal_id)
    if signal.outcome != Signal.Outcome.ACCEPTED:
        return signal  # done before (a redelivered task)
    if signal.bot is None:
        return _record(signal, Signal.Outcome.REJECTED, "bot is deleted", wall or timezone.now())
    signals_serve(bot_id=signal.bot.pk, wall=wall)
    signal.refresh_from_db()
    return signal


DRAIN_MAX_S = 30.0  # one hold of the lease acts on signals for at most this long
SERVE_MAX_S = 60.0  # one ``signals_serve`` takes the lease again for at most this long
SERVE_CYCLES = 3  # candle cycles due, run between two holds of a busy stream of signals


def signals_waiting(bot_id: int) -> bool:
    """Whether an accepted signal waits for the bot."""
    return Signal.objects.filter(bot_id=bot_id, outcome=Signal.Outcome.ACCEPTED).exists()


def signals_serve(*, bot_id: int, wall: datetime | None = None) -> int:
    """Take the bot's lease and act on its waiting signals; after releasing it, look once more
    and take it again if one arrived meanwhile (its own task found the bot busy and left it to
    this holder). Return how many were decided; raise ``CycleBusy`` when another actor holds
    the bot at the first try (later: that actor looks after releasing it).

    A stream of signals never starves the bot's candle cycles: a drain stops when a candle
    closes (or after ``DRAIN_MAX_S``), and before taking the lease again the cycles then due
    run (``bot_catch_up``, which acts on waiting signals before each candle, as the bot's tick
    does; the tick, every 2 s, finds the bot busy while signals keep it)."""
    from apps.trading.engine.schedule import bot_catch_up

    decided = 0
    deadline = time.monotonic() + SERVE_MAX_S
    first = True
    while True:
        try:
            # ``notify=False``: this loop is the look after release (no task handed over)
            with bot_lock(bot_id, notify=False) as lease:
                bot = Bot.objects.select_related("strategy", "account").get(pk=bot_id)
                decided += signals_drain(bot=bot, lease=lease, wall=wall)
        except CycleBusy:
            if first:
                raise
            return decided  # the holder now looks after its own release
        first = False
        if not signals_waiting(bot_id) or time.monotonic() >= deadline:
            return decided  # (more left: the sweep hands them over within seconds)
        try:  # the candles that closed meanwhile go first, then the signals again
            bot_catch_up(bot_id=bot_id, now=market_now(), limit=SERVE_CYCLES)
        except CycleBusy:
            return decided  # whoever holds the bot now looks after its release


def signals_drain(*, bot: Bot, lease: BotLease, wall: datetime | None = None) -> int:
    """Act on the bot's accepted signals in arrival order, under its lease, until none waits
    (or ``DRAIN_MAX_S`` has passed, a candle of the bot's timeframe has closed, or the lease is
    lost); return how many were decided."""
    decided = 0
    deadline = time.monotonic() + DRAIN_MAX_S
    drain = _Drain(bot, lease)
    candle = drain.last_closed()
    try:
        while time.monotonic() < deadline and drain.last_closed() == candle and lease.owned():
            signal = (
                Signal.objects.select_related("bot")
                .filter(bot=bot, outcome=Signal.Outcome.ACCEPTED)
                .order_by("received_at", "pk")
                .first()
            )
            if signal is None:
                break
            drain.decide(signal, wall or timezone.now())
            decided += 1
    finally:
        drain.close()
    return decided


class _Drain:
    """What one hold of the bot's lease opens once for every signal it decides: the risk
    settings, the strategy, the AI setup, the event loop, the venue and the runner over it.

    The venue is opened by the first signal that gets past the cheap refusals, and kept while
    it is the bot's current state: a paper decision locks the bot's exchange row first (as
    loading it does, so the kill switch waits for the decision) and opens the venue again when
    the row changed since this drain saved it (someone else acted on the bot). A decision
    that ends in an error drops the venue (its memory may be ahead of the rolled-back rows).
    """

    def __init__(self, bot: Bot, lease: BotLease) -> None:
        self.bot, self.lease = bot, lease
        self.interval = bot.strategy.timeframe
        self._risk: RiskSettings | None = None
        self._max_age: tuple[float | None] | None = None
        self._ai: tuple[BotAiSetup | None] | None = None
        self._strategy: Strategy | None = None
        self._windows: dict[tuple[str, int], CandleArrays] = {}
        self.run: Runner | None = None
        self.venue: Venue | None = None
        self.ctx: _Context | None = None

    def last_closed(self) -> int:
        """The open time of the bot's last closed candle now (market time; no query)."""
        now_ms = int(market_now().timestamp() * 1000)
        return kline_last_closed_open_time(interval=self.interval, now_ms=now_ms)

    # --- what is read once ----------------------------------------------------------------
    @property
    def risk(self) -> RiskSettings:
        if self._risk is None:
            self._risk, _ = RiskSettings.objects.get_or_create(bot=self.bot)
        return self._risk

    def max_age(self) -> float | None:
        """The signal strategy's ``max_signal_age_s`` (None: not a signal bot, or its
        parameters are invalid; the full decision says why)."""
        if self._max_age is None:
            age = None
            cls = STRATEGIES.get(self.bot.strategy.kind)
            if cls is not None and issubclass(cls, SignalStrategy):
                try:
                    age = float(
                        build_strategy(cls.kind, self.bot.strategy.parameters).params[
                            "max_signal_age_s"
                        ]
                    )
                except (StrategyError, ValueError, KeyError):
                    age = None
            self._max_age = (age,)
        return self._max_age[0]

    def ai(self) -> BotAiSetup | None:
        if self._ai is None:
            self._ai = (bot_ai_setup(self.bot),)  # raise ArtifactError: never act without it
        return self._ai[0]

    def strategy(self) -> Strategy:
        if self._strategy is None:
            kind = self.bot.strategy.kind
            self._strategy = build_strategy(
                kind, self.bot.strategy.parameters, ai=ai_strategy_for(kind, self.ai())
            )
        return self._strategy

    # --- one signal ---------------------------------------------------------------------------
    def refusal(self, signal: Signal, wall: datetime) -> str | None:
        """Why the signal is refused from its row alone (nothing opened), or None."""
        current = signal.bot
        if current is None:
            return "bot is deleted"
        if not current.enabled or current.state != Bot.State.RUNNING:
            return f"bot is {'disabled' if not current.enabled else current.state}"
        limit = self.max_age()
        if limit is not None:  # the strategy's own check (``SignalStrategy.on_signal``)
            age = (wall - (signal.signal_time or wall)).total_seconds()
            if age > limit:
                return f"signal is {age:.0f} s old, more than {limit:g} s"
        return None

    def decide(self, signal: Signal, wall: datetime) -> None:
        if (why := self.refusal(signal, wall)) is not None:
            _record(signal, Signal.Outcome.REJECTED, why, wall)
            return
        bot, lease = self.bot, self.lease
        try:
            with _atomic_for(bot):
                ctx = self._open(market_now())
                try:
                    kind, detail, order, blocked_by = self._decide_and_execute(ctx, signal, wall)
                except SignalRefused as exc:  # decided all the same: nothing was sent, and
                    # what the venue caught up on meanwhile is kept with the refusal
                    kind, detail, order, blocked_by = exc.outcome, str(exc), None, exc.blocked_by
                lease.check()
                ctx.venue.save()
                _record(signal, kind, detail, wall, order=order, blocked_by=blocked_by)
        except Exception as exc:
            self._drop()  # the venue's memory may be ahead of the rolled-back rows
            self._failed(signal, exc, wall)

    def _failed(self, signal: Signal, exc: Exception, wall: datetime) -> None:
        if isinstance(exc, LeaseLost):
            if exc.taken_over:
                _record(signal, Signal.Outcome.FAILED, f"preempted by the kill switch: {exc}", wall)
            else:  # lapsed: the signal stays accepted and the next holder acts on it
                logger.warning(
                    "signal %s: lease lapsed (%s); left for the next holder", signal.pk, exc
                )
        elif isinstance(exc, ArtifactError):  # never act without the model the bot was given
            bot_pause(bot=self.bot, reason=f"AI model: {exc}"[:255], cause=Bot.Cause.AI_MODEL)
            self._ai = None
            _record(signal, Signal.Outcome.FAILED, f"AI model: {exc}", wall)
        elif isinstance(exc, (*TRANSIENT, ExchangeError, StrategyError)):
            logger.warning("signal %s for bot %s failed: %s", signal.pk, self.bot.name, exc)
            _record(signal, Signal.Outcome.FAILED, f"{type(exc).__name__}: {exc}", wall)
        else:
            raise exc

    # --- the venue, once per drain --------------------------------------------------------------
    def _open(self, now: datetime) -> _Context:
        """The venue and the runner for a decision at ``now`` (inside its transaction)."""
        if self.ctx is not None and not self._current():
            self._drop()
        if self.ctx is None:
            if self.run is None:
                self.run = Runner()
            self.venue = venue_open(bot=self.bot, now=now, run=self.run)
            self.ctx = _Context(self.bot, self.risk, self.venue, self.run, now, self.lease)
        elif isinstance(self.venue, PaperVenue):
            clock = self.venue.session.clock  # (as loading it does)
            clock.set(max(now, clock()))
        elif isinstance(self.venue, LiveVenue):
            self.venue.now = now  # (the time its fills are applied at)
        ctx = self.ctx
        ctx.now = ctx.runner.now = now
        return ctx

    def _current(self) -> bool:
        """Paper: lock the bot's exchange row for this decision; whether it is still the state
        this drain loaded or saved last."""
        if not isinstance(self.venue, PaperVenue):
            return True
        stored = (
            PaperExchange.objects.select_for_update()
            .filter(bot=self.bot)
            .values_list("updated_at", flat=True)
            .first()
        )
        return stored == self.venue.session.row.updated_at

    def _drop(self) -> None:
        venue, self.venue, self.ctx = self.venue, None, None
        if venue is not None:
            try:
                venue.close()
            except Exception:  # (a live venue's connection: nothing left to lose)
                logger.exception("bot %s: closing the venue failed", self.bot.name)

    def close(self) -> None:
        self._drop()
        if self.run is not None:
            self.run.close()
            self.run = None

    # --- the decision -----------------------------------------------------------------------
    def _decide_and_execute(
        self, ctx: _Context, signal: Signal, wall: datetime
    ) -> tuple[str, str, Order | None, str]:
        bot, symbol, interval = self.bot, signal.symbol, self.interval
        candle = _last_candle(symbol, interval, ctx.now)
        ai = self.ai()  # the filter role confirms a signal's entry too
        made: dict[str, Any] = {}

        def configure(equity: Decimal) -> CycleConfig:
            if "config" not in made:
                config = ctx.runner.profile.cycle_config(
                    equity, Decimal(1), strategy=self.strategy()
                )
                made["config"], made["asked"] = with_ai(config, ai)
            config_: CycleConfig = made["config"]
            return config_

        def window(symbol: str, open_time: int) -> CandleArrays:
            key = (symbol, open_time)
            if key not in self._windows:
                strategy = self.strategy()
                limit = max(
                    strategy.warmup_candles or 100, ai.hybrid.lookback if ai is not None else 0
                )
                self._windows[key] = klines_window(
                    symbol=symbol, interval=interval, end_ms=open_time, limit=limit
                )
            return self._windows[key]

        def decided() -> None:
            ai_record(
                bot=bot,
                setup=ai,
                asked=made.get("asked"),
                symbol=symbol,
                candle_open_time=candle,
                at=ctx.now,
            )

        result = signal_step(
            ctx.runner,
            key=f"s{signal.pk}",
            action=signal.action,
            payload=signal.payload,
            sent_at=signal.signal_time or wall,
            symbol=symbol,
            interval=interval,
            open_time=candle,
            wall=wall,
            configure=configure,
            window=window,
            decided=decided,
        )
        return result.outcome, result.detail, result.order, result.blocked_by


def _last_candle(symbol: str, interval: str, now: datetime) -> int:
    """Open time of the last stored closed candle the signal is decided after."""
    latest = kline_last_closed_open_time(interval=interval, now_ms=int(now.timestamp() * 1000))
    open_time = (
        Kline.objects.filter(symbol=symbol, interval=interval, open_time__lte=latest)
        .order_by("-open_time")
        .values_list("open_time", flat=True)
        .first()
    )
    if open_time is None:
        raise SignalRefused(Signal.Outcome.FAILED, f"no {symbol} {interval} candles to trade on")
    return open_time


def _record(
    signal: Signal,
    outcome: str,
    detail: str,
    wall: datetime,
    *,
    order: Order | None = None,
    blocked_by: str = "",
) -> Signal:
    signal.outcome = outcome
    signal.detail = detail[:2000]
    signal.blocked_by = blocked_by[:64]
    signal.order = order
    signal.processed_at = wall
    signal.save(update_fields=["outcome", "detail", "blocked_by", "order", "processed_at"])
    logger.info("signal %s -> %s: %s", signal.pk, outcome, detail)
    signal_publish(signal)
    return signal


def signal_publish(signal: Signal) -> None:
    """Announce the signal's outcome to the dashboards (after commit)."""
    from apps.events import publish_event

    publish_event(
        "signal",
        {
            "id": signal.pk,
            "bot": signal.bot.name if signal.bot else None,
            "symbol": signal.symbol,
            "action": signal.action,
            "outcome": signal.outcome,
            "detail": signal.detail[:200],
        },
    )
