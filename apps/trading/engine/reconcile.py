"""Reconciliation: bring a bot's orders, fills and positions in the database up to the exchange.

Run after a restart, a lost user stream or on a schedule (`exchange.reconcile_bot`). Steps:

1. Ask the exchange for every non-terminal order of the bot (by client id) and list the
   exchange's open orders of the bot's symbols; orders with the bot's client id prefix
   (`b<bot id>-`) that the database does not know are adopted (recorded, purpose inferred from
   type and reduce-only).
2. Apply missed status changes (`order_apply_report`); an order the exchange does not know is
   closed (`order_close_missing`). Apply missed fills from `user_trades` (`fill_apply`,
   idempotent), oldest first, matched to our orders by client id or exchange order id.
3. Compare each symbol's signed position in the database (summed over the account's bots, as
   the venue nets them) with the exchange's. A difference is looked at once more (fills and
   positions read again: a fill may have landed between the two reads); if it persists the bot
   is halted (`bot_halt`, the reason names symbol, database and exchange quantity) and an
   `alert` event is published; nothing is placed for that symbol: never trade on a guess.
4. Cancel the bot's exit orders whose trade has ended, then, for each matching open position
   with a known stop price (`Position.stop_price`) and no stop order of ours open, place a
   reduce-only STOP_MARKET with a deterministic client id (recorded first, then sent), so
   running twice places it once. Both are the trading runner's own steps
   (``CycleRunner.cancel_orphan_exits`` and ``protect_open_position``: the live cycle runs the
   same), over the database store at ``at`` and the exchange given.

The bot's lease (``apps.bots.lease``): a run acts on the bot as a cycle, a signal or the kill
switch does, under its lease, so it never writes the bot's orders or positions while another
actor is in flight (a stop re-placed beside the one a signal is placing). The entry points take
the lease, waiting at most ``BUSY_WAIT_S`` (then ``CycleBusy``: the task retries, the command
says so), or use the one their caller already holds (``lease=``, never taken twice); every write
to the records and every order sent is preceded by ``BotLease.check()`` (fencing: a run whose
lease the kill switch took over stops with ``LeaseLost``).

Async/sync bridge: the `Exchange` port is async, the ORM sync. `reconcile_bot` and
`reconcile_bot_now` (sync, for tasks and commands) run `reconcile_bot_async` under one
`async_to_sync` call, so every exchange call of a run happens on one event loop. Database work
is done by the sync services, called through `sync_to_async` (thread-sensitive), which asgiref
runs back on the calling thread, i.e. on the caller's database connection and inside its
transaction if it has one. No transaction is held across an exchange call; each service call
commits on its own. Step 4 is the (sync) trading runner run the same way: its exchange calls
hop back onto the run's event loop (``_on_loop``, ``async_to_sync`` inside ``sync_to_async``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Max
from django.utils.module_loading import import_string

from apps.bots.lease import BotLease, CycleBusy, bot_lock, lease_holder
from apps.bots.models import Bot
from apps.bots.services import bot_halt
from apps.events import publish_event
from apps.exchange.domain.errors import (
    OrderNotFoundError,
)
from apps.exchange.domain.protocol import Exchange
from apps.exchange.domain.types import Fill as VenueFill
from apps.exchange.domain.types import (
    OrderReport,
    require_utc,
)
from apps.orders.domain.accounting import (
    bot_client_id_prefix,
)
from apps.orders.domain.adoption import is_liquidation_id
from apps.orders.domain.state import TERMINAL, OrderStatus
from apps.orders.models import Fill, Order
from apps.orders.selectors import (
    order_find_for_fill,
    order_list_missing_fills,
    order_list_open,
)
from apps.orders.services import (
    order_apply_report,
    order_close_missing,
)
from apps.trading.bookkeeping import fill_apply, order_adopt
from apps.trading.domain.profile import BotProfile
from apps.trading.domain.runner import Canceled, CycleRunner
from apps.trading.engine.store import DbMarket, DbStore
from apps.trading.selectors import (
    position_list_open,
    position_quantity_of_account,
)

logger = logging.getLogger(__name__)

DEFAULT_LOOKBACK = timedelta(hours=24)
MAX_LOOKBACK = timedelta(days=7)  # Binance serves user trades of at most 7 days per query
_TERMINAL = [s.value for s in TERMINAL]
BUSY_WAIT_S = 5.0  # how long a run waits for a cycle, a signal or the kill switch to finish
_T = TypeVar("_T")


@dataclass
class ReconcileReport:
    bot: str
    orders_updated: int = 0
    orders_adopted: int = 0
    fills_applied: int = 0
    stops_replaced: int = 0
    halted: bool = False
    reason: str = ""
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        text = (
            f"{self.bot}: {self.orders_updated} orders updated, {self.orders_adopted} adopted, "
            f"{self.fills_applied} fills applied, {self.stops_replaced} stops re-placed"
        )
        return f"{text}; HALTED: {self.reason}" if self.halted else text


@dataclass(frozen=True)
class _LocalView:
    open_orders: list[tuple[int, str, str]]  # (pk, symbol, client id)
    symbols: list[str]
    since: datetime


@dataclass
class _RemoteView:
    since: datetime  # where to start reading fills
    reports: dict[int, OrderReport | None] = field(default_factory=dict)  # by order pk
    open_orders: list[OrderReport] = field(default_factory=list)  # ours (by prefix) only


# --- entry points --------------------------------------------------------------------------------
def reconcile_bot(
    *,
    bot: Bot,
    exchange: Exchange,
    at: datetime,
    lease: BotLease | None = None,
    wait: float = BUSY_WAIT_S,
) -> ReconcileReport:
    """Reconcile `bot` with `exchange` (sync; call it from sync code only) under the bot's lease.
    See module doc.

    ``lease``: the bot's lease when the caller already holds it (the kill switch, a cycle):
    it is used as is, never taken a second time. Otherwise the lease is taken here, waiting at
    most ``wait`` seconds; a bot still busy after that raises ``CycleBusy`` (logged) and nothing
    was read or written. Exchange errors propagate (a `RetryableError` is for the caller to
    retry) except order rejections of a re-placed stop, which are recorded and alerted;
    ``LeaseLost`` propagates when the lease is taken over mid-run (nothing is written after).
    """
    with _bot_lease(bot, lease=lease, wait=wait) as held:
        return async_to_sync(reconcile_bot_async)(bot=bot, exchange=exchange, at=at, lease=held)


async def reconcile_bot_async(
    *, bot: Bot, exchange: Exchange, at: datetime, lease: BotLease
) -> ReconcileReport:
    """The same as `reconcile_bot`, for callers already in an event loop that hold the bot's
    ``lease``: it is checked before every write to the records and every order sent (fencing),
    so a run whose lease was taken over stops with ``LeaseLost`` having written nothing more.
    """
    require_utc(at, "at")
    if lease.bot_id != bot.pk:
        raise ValueError(f"reconcile {bot.name}: the lease is bot {lease.bot_id}'s")
    db = sync_to_async  # thread-sensitive: runs on the caller's thread and connection

    def fenced(write: Callable[..., _T]) -> Callable[..., Awaitable[_T]]:
        """``write`` run only while the lease is ours (the check and the write in one hop)."""

        def call(**kwargs: Any) -> _T:
            lease.check()
            return write(**kwargs)

        return db(call)

    report = ReconcileReport(bot=bot.name)
    await db(lease.check)()
    local = await db(_local_view)(bot=bot, at=at)
    remote = await _fetch_orders(exchange, bot=bot, local=local)
    await fenced(_apply_orders)(bot=bot, remote=remote, at=at, report=report)
    symbols = local.symbols
    fills, positions = await _fetch_fills_and_positions(exchange, symbols, since=remote.since)
    lost = await _fetch_lost_orders(exchange, bot=bot, fills=fills)
    mismatches = await fenced(_apply_fills_and_compare)(
        bot=bot, symbols=symbols, fills=fills, positions=positions, at=at, report=report, lost=lost
    )
    if mismatches:  # look again: a fill may have landed between our reads of trades and positions
        again = sorted(mismatches)
        fills, positions = await _fetch_fills_and_positions(exchange, again, since=remote.since)
        lost = await _fetch_lost_orders(exchange, bot=bot, fills=fills)
        mismatches = await fenced(_apply_fills_and_compare)(
            bot=bot,
            symbols=again,
            fills=fills,
            positions=positions,
            at=at,
            report=report,
            lost=lost,
        )
        if mismatches:
            await fenced(_halt)(bot=bot, mismatches=mismatches, at=at, report=report)
        else:
            report.notes.append(f"positions of {', '.join(again)} agreed on a second look")
    matched = [symbol for symbol in symbols if symbol not in mismatches]
    await db(_exits_and_stops)(
        bot=bot,
        exchange=exchange,
        symbols=symbols,
        matched=matched,
        at=at,
        report=report,
        lease=lease,
    )
    logger.info("reconcile %s", report.summary())
    return report


def exchange_for_bot(*, bot: Bot) -> Exchange:
    """Return the exchange a bot trades on, from the `EXCHANGE_PROVIDER` setting.

    The setting is the dotted path of a callable `(bot) -> Exchange`. Raise
    `ImproperlyConfigured` when it is not set.
    """
    path = getattr(settings, "EXCHANGE_PROVIDER", "")
    if not path:
        raise ImproperlyConfigured(
            "no exchange provider configured: set EXCHANGE_PROVIDER to the dotted path of a "
            "callable (bot) -> Exchange"
        )
    provider = import_string(path)
    return provider(bot)


def reconcile_bot_now(
    *, bot: Bot, at: datetime, wait: float = BUSY_WAIT_S, lease: BotLease | None = None
) -> ReconcileReport:
    """Reconcile ``bot`` with the exchange its provider opens (sync), under the bot's lease:
    a cycle, a signal or the kill switch never acts on the bot meanwhile. The lease is taken as
    in `reconcile_bot` (or ``lease``, held by the caller, is used): raise ``CycleBusy`` when
    the bot stays busy for ``wait`` seconds.

    The provider may return an ``Exchange`` or an async context manager yielding one (the
    Binance adapter must be built inside the event loop that uses it, and closed after).
    """
    _ = bot.account  # loaded here: the event loop below must not touch the database itself
    with _bot_lease(bot, lease=lease, wait=wait) as held:

        async def run() -> ReconcileReport:
            opened = exchange_for_bot(bot=bot)
            if hasattr(opened, "__aenter__"):
                async with opened as exchange:
                    return await reconcile_bot_async(bot=bot, exchange=exchange, at=at, lease=held)
            return await reconcile_bot_async(bot=bot, exchange=opened, at=at, lease=held)

        return async_to_sync(run)()


@contextmanager
def _bot_lease(bot: Bot, *, lease: BotLease | None, wait: float) -> Iterator[BotLease]:
    """The caller's ``lease`` (checked, not taken again: no self-deadlock), or the bot's lease
    taken for the block as the signal path takes it (renewed while held), waiting at most
    ``wait`` seconds for a cycle, a signal or the kill switch to finish; then ``CycleBusy``."""
    if lease is not None:
        if lease.bot_id != bot.pk:
            raise ValueError(f"reconcile {bot.name}: the lease is bot {lease.bot_id}'s")
        lease.check()
        yield lease
        return
    with ExitStack() as stack:
        try:
            taken = stack.enter_context(bot_lock(bot.pk, wait=wait))
        except CycleBusy:
            logger.warning(
                "reconcile %s: skipped, the bot stayed busy for %ss (lease held by %s)",
                bot.name,
                wait,
                lease_holder(bot.pk),
            )
            raise
        yield taken


# --- phase 1: what the database knows ------------------------------------------------------------
def _local_view(*, bot: Bot, at: datetime) -> _LocalView:
    open_orders = list(order_list_open(bot=bot))
    incomplete = list(order_list_missing_fills(bot=bot))
    symbols = set(bot.symbols or [])
    symbols.update(o.symbol for o in open_orders)
    symbols.update(o.symbol for o in incomplete)
    symbols.update(position_list_open(bot=bot).values_list("symbol", flat=True))
    last_fill = Fill.objects.filter(order__bot=bot).aggregate(t=Max("filled_at"))["t"]
    candidates = [o.created_at for o in (*open_orders, *incomplete)]
    candidates.append(last_fill if last_fill is not None else at - DEFAULT_LOOKBACK)
    since = max(min(candidates) - timedelta(minutes=1), at - MAX_LOOKBACK)
    return _LocalView(
        open_orders=[(o.pk, o.symbol, o.client_order_id) for o in open_orders],
        symbols=sorted(symbols),
        since=since,
    )


# --- phase 2: what the exchange says (no database access) ----------------------------------------
async def _fetch_orders(exchange: Exchange, *, bot: Bot, local: _LocalView) -> _RemoteView:
    remote = _RemoteView(since=local.since)
    for pk, symbol, cid in local.open_orders:
        try:
            remote.reports[pk] = await exchange.get_order(symbol, cid)
        except OrderNotFoundError:
            remote.reports[pk] = None
    prefix = bot_client_id_prefix(bot.pk)
    for symbol in local.symbols:
        for rep in await exchange.open_orders(symbol):
            if rep.client_order_id.startswith(prefix):
                remote.open_orders.append(rep)
                if rep.created_at is not None:  # an order to adopt may have filled in part
                    remote.since = min(remote.since, rep.created_at)
    return remote


async def _fetch_fills_and_positions(
    exchange: Exchange, symbols: Iterable[str], *, since: datetime
) -> tuple[list[VenueFill], dict[str, Decimal]]:
    """Return the symbols' fills since `since`, oldest first, then their signed positions."""
    wanted = list(symbols)
    fills: list[VenueFill] = []
    for symbol in wanted:
        fills.extend(await exchange.user_trades(symbol, start=since, limit=1000))
    fills.sort(key=lambda f: (f.time, f.trade_id))
    positions = dict.fromkeys(wanted, Decimal(0))
    for pos in await exchange.positions():
        if pos.symbol in positions:
            positions[pos.symbol] += pos.quantity
    return fills, positions


async def _fetch_lost_orders(
    exchange: Exchange, *, bot: Bot, fills: Iterable[VenueFill]
) -> dict[str, OrderReport]:
    """The venue's reports of orders behind ``fills`` that the records lack but are the bot's
    own (its client id prefix: a row lost in a crash) or liquidations, by client id."""
    wanted = await sync_to_async(_lost_client_ids)(bot=bot, fills=list(fills))
    found: dict[str, OrderReport] = {}
    for symbol, cid in wanted:
        try:
            found[cid] = await exchange.get_order(symbol, cid)
        except OrderNotFoundError:
            continue
    return found


def _lost_client_ids(*, bot: Bot, fills: list[VenueFill]) -> list[tuple[str, str]]:
    prefix = bot_client_id_prefix(bot.pk)
    wanted: dict[str, str] = {}
    for fill in fills:
        cid = fill.client_order_id or ""
        if not (cid.startswith(prefix) or is_liquidation_id(cid)) or cid in wanted:
            continue
        known = order_find_for_fill(
            bot=bot,
            symbol=fill.symbol,
            client_order_id=cid,
            exchange_order_id="" if fill.order_id is None else str(fill.order_id),
        )
        if known is None:
            wanted[cid] = fill.symbol
    return [(symbol, cid) for cid, symbol in wanted.items()]


# --- phase 3: apply it (sync, through the services) ----------------------------------------------
def _apply_orders(*, bot: Bot, remote: _RemoteView, at: datetime, report: ReconcileReport) -> None:
    orders = {o.pk: o for o in Order.objects.filter(pk__in=list(remote.reports))}
    for pk, venue in remote.reports.items():
        before = orders[pk]
        after = (
            order_close_missing(order=before, at=at)
            if venue is None
            else order_apply_report(order=before, report=venue, at=at)
        )
        if (after.status, after.filled_quantity) != (before.status, before.filled_quantity):
            report.orders_updated += 1
    _adopt(bot=bot, reports=remote.open_orders, at=at, report=report)


def _apply_fills_and_compare(
    *,
    bot: Bot,
    symbols: Iterable[str],
    fills: Iterable[VenueFill],
    positions: dict[str, Decimal],
    at: datetime,
    report: ReconcileReport,
    lost: dict[str, OrderReport] | None = None,
) -> dict[str, tuple[Decimal, Decimal]]:
    """Apply our missed fills (adopting the orders in ``lost`` first); return
    {symbol: (DB qty, exchange qty)} where they disagree."""
    for venue_fill in fills:
        order = order_find_for_fill(
            bot=bot,
            symbol=venue_fill.symbol,
            client_order_id=venue_fill.client_order_id,
            exchange_order_id="" if venue_fill.order_id is None else str(venue_fill.order_id),
        )
        if order is None and venue_fill.client_order_id in (lost or {}):
            order = order_adopt(bot=bot, report=(lost or {})[venue_fill.client_order_id], at=at)
            report.orders_adopted += 1
            report.notes.append(f"adopted {order.client_order_id} ({order.purpose}) from its fills")
        if order is not None and fill_apply(order=order, fill=venue_fill, at=at) is not None:
            report.fills_applied += 1
    mismatches = {}
    for symbol in symbols:
        ours = position_quantity_of_account(account=bot.account, symbol=symbol)
        theirs = positions.get(symbol, Decimal(0))
        if ours != theirs:
            mismatches[symbol] = (ours, theirs)
    return mismatches


def _halt(
    *,
    bot: Bot,
    mismatches: dict[str, tuple[Decimal, Decimal]],
    at: datetime,
    report: ReconcileReport,
) -> None:
    figures = "; ".join(
        f"{symbol}: DB {_num(ours)} vs exchange {_num(theirs)}"
        for symbol, (ours, theirs) in sorted(mismatches.items())
    )
    reason = f"reconcile: position mismatch {figures}"
    bot_halt(bot=bot, reason=reason, cause=Bot.Cause.RECONCILIATION)
    _alert(bot=bot, message=reason, at=at)
    report.halted, report.reason = True, reason


def _adopt(
    *, bot: Bot, reports: Iterable[OrderReport], at: datetime, report: ReconcileReport
) -> None:
    known = dict(
        Order.objects.filter(client_order_id__in=[r.client_order_id for r in reports]).values_list(
            "client_order_id", "status"
        )
    )
    for venue in reports:
        status = known.get(venue.client_order_id)
        if status is not None:
            if status in _TERMINAL:
                report.notes.append(
                    f"{venue.client_order_id} is open on the exchange but {status} here"
                )
            continue
        order = order_adopt(bot=bot, report=venue, at=at)
        report.orders_adopted += 1
        report.notes.append(f"adopted {venue.client_order_id} ({venue.type} {order.purpose})")


# --- phase 4: exit orders of ended trades, missing stops (the runner's own steps) --------------
class _StoreAt(DbStore):
    """The database store with the run's clock: an order the venue does not know is closed as
    missing against ``at``, as every other write of the run."""

    def __init__(self, bot: Bot, at: datetime) -> None:
        super().__init__(bot)
        self.at = at

    def order_close_missing(self, order: Order) -> Order:
        return order_close_missing(order=order, at=self.at)


@dataclass
class _Venue:
    """The exchange as the runner's venue during a run: what happened on it was applied by the
    run itself (phases 2 and 3), and what the runner places here is a resting stop."""

    exchange: Exchange

    def mark(self) -> int:
        return 0

    def catch_up(self, *, symbol: str, interval: str, open_time: int) -> set[str]:
        return set()

    def after_place(self, *, order: Any, report: OrderReport, mark: int) -> None:
        return None

    def equity(self) -> Decimal:
        raise NotImplementedError("reconciliation reads no equity")


def _on_loop(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run an exchange coroutine on the run's event loop, from the sync code that
    ``sync_to_async`` runs (the exchange's session belongs to that loop)."""

    async def wait() -> _T:
        return await coro

    return async_to_sync(wait)()


def _exits_and_stops(
    *,
    bot: Bot,
    exchange: Exchange,
    symbols: list[str],
    matched: list[str],
    at: datetime,
    report: ReconcileReport,
    lease: BotLease,
) -> None:
    """Cancel the exit orders whose trade has ended (they must die with it), in every symbol;
    re-place the missing stops of the ``matched`` symbols' positions (never where the records
    and the exchange disagree). Exchange errors propagate; a stop the exchange rejects is
    recorded, noted and alerted."""
    runner = CycleRunner(
        # Only the bot key (the client ids' prefix) is read by these steps.
        profile=BotProfile(bot_key=f"b{bot.pk}", strategy_kind=bot.strategy.kind),
        symbols=symbols,
        store=_StoreAt(bot, at),
        venue=_Venue(exchange),
        market=DbMarket(bot.name),
        instruments=lambda symbol: _on_loop(exchange.instrument(symbol)),
        run=_on_loop,
        now=at,
        name=bot.name,
        guard=lease.check,  # fencing: nothing is canceled, recorded or sent once it is lost
        log=logger,
    )
    for symbol in symbols:
        done = runner.cancel_orphan_exits(symbol, strict=True)
        report.notes.extend(
            f"canceled {cid}: its trade has ended"
            for cid, outcome in done.outcomes.items()
            if outcome is Canceled.CLOSED
        )
    for symbol in matched:
        stop = runner.protect_open_position(symbol)
        if stop is None:
            continue
        cid = stop.client_order_id
        if stop.status == OrderStatus.REJECTED:
            message = (
                f"reconcile: could not re-place stop {cid} for {symbol} at "
                f"{_num(stop.trigger_price)}: {stop.reject_reason}"
            )
            _alert(
                bot=bot,
                message=message,
                at=at,
                code="stop_rejected",
                fields={
                    "cid": cid,
                    "symbol": symbol,
                    "price": _num(stop.trigger_price),
                    "reason": stop.reject_reason,
                },
            )
            report.notes.append(message)
            continue
        report.stops_replaced += 1
        report.notes.append(
            f"re-placed stop {cid}: {stop.side} {_num(stop.quantity)} {symbol} "
            f"at {_num(stop.trigger_price)}"
        )


def _alert(
    *,
    bot: Bot,
    message: str,
    at: datetime,
    code: str = "",
    fields: dict[str, str] | None = None,
) -> None:
    """A critical alert on the event bus; ``code`` and ``fields`` name it for the notifications
    (``apps.telegram.domain.alerts``), the message is for people."""
    logger.error("bot %s: %s", bot.name, message)
    publish_event(
        "alert",
        {
            "bot": bot.name,
            "level": "critical",
            "message": message,
            "at": at.isoformat(),
            "code": code,
            "fields": fields or {},
        },
    )


def _num(value: Decimal) -> str:
    return f"{value.normalize():f}" if value else "0"
