"""The database store and market readings of the trading runner (live and paper trading).

``DbStore`` is ``apps.trading.domain.runner.Store`` over the order services
(``apps.orders.services``): every order is recorded (and, live, committed) before it is sent, a
fill and the trade and position change it causes are written in one transaction, and the
dashboards hear of each change after commit. ``DbMarket`` reads CryptoVIX and the correlation
matrix through the risk services (their caches included). The in-memory store of the
exchange-mode backtests is ``apps.backtest.exchange_mode.domain.records.Ledger``; the store
contract test (``tests/backtest/test_store_contract.py``) holds both to the same records.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from apps.bots.models import Bot
from apps.events import publish_event
from apps.exchange.domain.types import InstrumentInfo, OrderReport, OrderRequest
from apps.exchange.models import Instrument
from apps.orders.models import Order
from apps.orders.services import (
    order_apply_report,
    order_close_missing,
    order_record,
    order_reject,
)
from apps.risk.domain.circuit_breaker import BreakerDecision
from apps.risk.domain.portfolio import CorrelationMatrix
from apps.risk.domain.vix import CryptoVIX, VixReading
from apps.risk.models import BreakerState
from apps.risk.services import RiskDataError, correlation_matrix_current, vix_current
from apps.trading.bookkeeping import position_mark_to_market
from apps.trading.domain.cycle import CycleOutcome
from apps.trading.domain.runner import OPEN_STATUSES, signal_outcome
from apps.trading.models import Position, Signal, Trade
from apps.trading.paper import instrument_info
from apps.trading.selectors import trade_get_open
from apps.trading.venues import apply_events

__all__ = ["KILL_CAUSES", "DbMarket", "DbStore", "Instruments"]

logger = logging.getLogger(__name__)

KILL_CAUSES = frozenset({Bot.Cause.KILL_SWITCH, Bot.Cause.CRITICAL_ERROR})
_OPEN = tuple(OPEN_STATUSES)
_SIGNAL_ACTIONS = {"ENTER_LONG": "buy", "ENTER_SHORT": "sell"}


class Instruments:
    """The instruments' filters, read once per symbol."""

    def __init__(self) -> None:
        self._infos: dict[str, InstrumentInfo] = {}

    def __call__(self, symbol: str) -> InstrumentInfo:
        info = self._infos.get(symbol)
        if info is None:
            info = self._infos[symbol] = instrument_info(Instrument.objects.get(symbol=symbol))
        return info


class DbStore:
    """One bot's rows: orders, fills, trades, positions, breaker state and signals."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self._breaker: BreakerState | None = None

    # --- positions and trades -------------------------------------------------------------------
    def position(self, symbol: str) -> Position | None:
        return Position.objects.filter(bot=self.bot, symbol=symbol).exclude(quantity=0).first()

    def open_positions(self) -> list[Position]:
        return list(Position.objects.filter(bot=self.bot).exclude(quantity=0))

    def position_prepare(self, symbol: str, stop_price: Decimal) -> bool:
        position, _ = Position.objects.get_or_create(
            bot=self.bot, symbol=symbol, defaults={"leverage": self.bot.leverage}
        )
        if position.quantity != 0:
            return False
        Position.objects.filter(pk=position.pk).update(stop_price=stop_price)
        return True

    def position_stop_set(self, symbol: str, stop_price: Decimal | None) -> None:
        Position.objects.filter(bot=self.bot, symbol=symbol).update(stop_price=stop_price)

    def position_mark(self, symbol: str, price: Decimal) -> None:
        position_mark_to_market(bot=self.bot, symbol=symbol, price=price)

    def open_trade(self, symbol: str) -> Trade | None:
        return trade_get_open(bot=self.bot, symbol=symbol)

    @staticmethod
    def trade_key(trade: Trade | None) -> int | None:
        return None if trade is None else trade.pk

    @staticmethod
    def order_trade_key(order: Order) -> int | None:
        return order.trade_id

    def closed_trades(self, after: datetime, until: datetime) -> Iterator[tuple[datetime, Decimal]]:
        rows = Trade.objects.filter(
            bot=self.bot,
            status=Trade.Status.CLOSED,
            exit_time__gt=after,
            exit_time__lte=until,
        ).values_list("exit_time", "realized_pnl", "fees", "funding")
        for exit_time, pnl, fees, funding in rows:
            yield exit_time, pnl - fees - funding

    # --- orders ---------------------------------------------------------------------------------
    def open_orders(self, symbol: str) -> list[Order]:
        return list(
            Order.objects.filter(bot=self.bot, symbol=symbol, status__in=_OPEN).order_by(
                "-created_at", "-id"
            )
        )

    def stop_orders(self, symbol: str) -> list[Order]:
        return list(
            Order.objects.filter(
                bot=self.bot,
                symbol=symbol,
                purpose__in=["stop_loss", "trailing_stop"],
                type="STOP_MARKET",
            ).order_by("-created_at", "-id")
        )

    def order_record(
        self,
        request: OrderRequest,
        *,
        purpose: str,
        trade: Trade | None,
        expected_price: Decimal | None,
    ) -> tuple[Order, bool]:
        return order_record(
            bot=self.bot,
            request=request,
            purpose=purpose,
            trade=trade,
            expected_price=expected_price,
        )

    @staticmethod
    def order_reject(order: Order, *, at: datetime, reason: str, code: int | None) -> Order:
        return order_reject(order=order, at=at, reason=reason, code=code)

    @staticmethod
    def order_apply_report(order: Order, report: OrderReport, *, at: datetime) -> Order:
        return order_apply_report(order=order, report=report, at=at)

    @staticmethod
    def order_close_missing(order: Order) -> Order:
        return order_close_missing(order=order, at=timezone.now())  # wall-clock grace

    @staticmethod
    def order_refresh(order: Order) -> Order:
        order.refresh_from_db()
        return order

    def apply_events(self, events: list[Any]) -> set[str]:
        """Write venue events (order changes, fills, funding) through the order services;
        return the purposes of the orders that filled (``Ledger.apply_events``)."""
        return apply_events(bot=self.bot, events=events)

    # --- risk state -----------------------------------------------------------------------------
    def kill_switch(self) -> tuple[bool, str]:
        # Read now, not when the cycle began: a kill switch engaged meanwhile blocks this entry.
        cause, reason = Bot.objects.values_list("state_cause", "state_reason").get(pk=self.bot.pk)
        return cause in KILL_CAUSES, reason

    def breaker_latched(self) -> Mapping[str, str]:
        """The latches of ``BreakerState``: a tripped tier stays tripped across restarts."""
        row, _ = BreakerState.objects.get_or_create(bot=self.bot)
        self._breaker = row
        latched: Mapping[str, str] = (row.state or {}).get("latched", {})
        return latched

    def breaker_save(self, decision: BreakerDecision, state: Mapping[str, Any]) -> None:
        row = self._breaker
        if row is None:
            row, _ = BreakerState.objects.get_or_create(bot=self.bot)
        row.state = dict(state)
        previous = row.last_action
        row.last_action = decision.action.value if decision.action else ""
        row.last_reason = decision.reason[:255] if decision.action else ""
        row.save()
        if row.last_action != previous and not self.bot.rehearsal:  # the dashboards' tier
            publish_event(
                "breaker",
                {
                    "bot": self.bot.name,
                    "tier": row.last_action or "clear",
                    "reason": row.last_reason,
                },
            )

    # --- signals --------------------------------------------------------------------------------
    def signal_record(
        self, *, symbol: str, outcome: CycleOutcome, order: Order | None, at: datetime
    ) -> None:
        decision = outcome.decision
        if decision is None:
            return
        Signal.objects.create(
            bot=self.bot,
            source=Signal.Source.STRATEGY,
            symbol=symbol,
            action=_SIGNAL_ACTIONS.get(decision.action.value, "close"),
            payload={
                "price": str(decision.price),
                "stop": str(decision.stop_price or ""),
                "candle_open_time": decision.open_time,
            },
            outcome=signal_outcome(outcome.kind),
            blocked_by=outcome.blocked_by,
            detail="; ".join(dict.fromkeys((outcome.reason, *outcome.reasons)))[:2000],
            order=order,
            signal_time=at,
            processed_at=at,
        )


class DbMarket:
    """CryptoVIX (5-minute cache) and the correlation matrix (1-hour cache) of the services."""

    def __init__(self, name: str) -> None:
        self.name = name

    def vix(self, now: datetime, vix: CryptoVIX) -> VixReading | None:
        try:
            return vix_current(now=now, vix=vix)
        except RiskDataError as exc:
            logger.info("bot %s: no volatility reading (%s); size not scaled", self.name, exc)
            return None

    def correlations(
        self, symbols: Sequence[str], lookback: int, now: datetime
    ) -> CorrelationMatrix | None:
        try:
            return correlation_matrix_current(symbols=list(symbols), lookback=lookback, now=now)
        except RiskDataError as exc:
            logger.info("bot %s: no correlation matrix (%s)", self.name, exc)
            return None
