"""Paper trading: each paper bot's SimulatedExchange, kept in the database between cycles.

The simulated exchange is the same kernel the backtests use. It is pickled into
``PaperExchange.state`` after every cycle and loaded at the next, so any worker process can run
the next cycle of a bot (the per-bot lock guarantees one at a time). Candles reach it from the
``Kline`` table: before each decision every closed candle it has not seen is fed, so resting
orders, stops and take-profits fill exactly where the market went.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction

from apps.bots.models import Bot
from apps.core.domain.clock import SettableClock
from apps.exchange.domain.events import ExchangeEvent
from apps.exchange.domain.simulated import SimulatedExchange
from apps.exchange.domain.types import Candle, InstrumentInfo, ms_to_datetime
from apps.exchange.models import Instrument
from apps.market.models import FundingRate, Kline
from apps.market.selectors import interval_ms
from apps.trading.domain.candle_feed import candles_feed, feed_from
from apps.trading.models import PaperExchange


def instrument_info(instrument: Instrument) -> InstrumentInfo:
    return InstrumentInfo(
        symbol=instrument.symbol,
        base_asset=instrument.base_asset,
        quote_asset=instrument.quote_asset,
        tick_size=instrument.tick_size,
        step_size=instrument.step_size,
        min_qty=instrument.min_qty,
        max_qty=instrument.max_qty or Decimal("1e12"),
        market_min_qty=instrument.min_qty,
        market_max_qty=instrument.max_qty or Decimal("1e12"),
        market_step_size=instrument.step_size,
        min_notional=instrument.min_notional,
        max_leverage=instrument.max_leverage,
        price_precision=instrument.price_precision,
        quantity_precision=instrument.quantity_precision,
        status=instrument.status,
    )


@dataclass
class PaperSession:
    """A loaded paper exchange with its simulated clock; save it when the cycle is done."""

    row: PaperExchange
    exchange: SimulatedExchange
    clock: SettableClock

    def save(self) -> None:
        self.exchange.events.clear()  # applied already; keep the stored state small
        self.row.state = pickle.dumps((self.exchange, self.clock), pickle.HIGHEST_PROTOCOL)
        if self.row.pk is None:
            self.row.save()
        else:
            self.row.save(update_fields=["state", "last_candle_time", "updated_at"])


def paper_session_load(*, bot: Bot, now: datetime) -> PaperSession:
    """Load the bot's simulated exchange (create it on the first cycle) at time ``now``."""
    rows = PaperExchange.objects.filter(bot=bot)
    if transaction.get_connection().in_atomic_block:
        # Whoever acts on the bot (a cycle, the kill switch) holds its exchange until commit,
        # so one never loads a state that another is about to overwrite.
        rows = rows.select_for_update()
    row = rows.first()
    if row is not None and row.state:
        exchange, clock = pickle.loads(bytes(row.state))  # noqa: S301 - our own rows only
        clock.set(max(now, clock()))
        return PaperSession(row, exchange, clock)
    clock = SettableClock(now)
    infos = [instrument_info(i) for i in Instrument.objects.filter(symbol__in=bot.symbols)]
    exchange = SimulatedExchange(
        infos,
        clock=clock,
        balance=bot.account.paper_starting_balance,
        seed=bot.pk,
        default_leverage=bot.leverage,
    )
    row = row or PaperExchange(bot=bot, last_candle_time={})
    return PaperSession(row, exchange, clock)


def paper_feed_candles(
    *, session: PaperSession, symbol: str, interval: str, until_open_time: int
) -> list[ExchangeEvent]:
    """Feed every stored candle after the last one fed, up to ``until_open_time`` inclusive;
    return the events (fills, order updates, funding, liquidations) they caused."""
    fed = session.row.last_candle_time
    last = fed.get(symbol)
    rows = Kline.objects.filter(
        symbol=symbol,
        interval=interval,
        open_time__gte=feed_from(fed=fed, symbol=symbol, decided=until_open_time),
        open_time__lte=until_open_time,
    ).order_by("open_time")
    step = timedelta(milliseconds=interval_ms(interval))
    # Funding settled over the candles about to be fed (the shipped or recorded history).
    first_fed = until_open_time if last is None else last
    session.exchange.set_funding_rates(
        symbol,
        [
            (ms_to_datetime(t), r)
            for t, r in FundingRate.objects.filter(
                symbol=symbol,
                funding_time__gt=first_fed,
                funding_time__lte=until_open_time + int(step.total_seconds() * 1000),
            ).values_list("funding_time", "rate")
        ],
    )
    return candles_feed(
        exchange=session.exchange,
        clock=session.clock,
        fed=fed,
        symbol=symbol,
        candles=(
            Candle(
                open_time=ms_to_datetime(k.open_time),
                close_time=ms_to_datetime(k.open_time) + step,
                open=k.open,
                high=k.high,
                low=k.low,
                close=k.close,
                volume=k.volume,
            )
            for k in rows.iterator()
        ),
        step=step,
    )
