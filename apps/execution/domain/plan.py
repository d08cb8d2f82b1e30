"""`ExecutionPlan`: the whole order set of one entry decision.

Order of work for the adapter:
1. send `entry.orders` (LIMIT IOC slices) one after another; after them call
   `SlippageManager.plan_after_fills` until it answers `EntryDone`;
2. as soon as anything filled, send `protection(filled_qty=..., entry_price=...)`: the protective
   stop first (so the position is never naked), then the take-profits, then a native trailing
   stop when configured; a managed trailing stop starts from `trailing_stop(entry_price=...)`
   with the protective stop as its sequence-0 stop;
3. when more fills arrive in a later round, place `protection(..., revision=1)` (then 2, ...)
   sized on the new total, then cancel the previous revision's orders: each revision has its own
   client ids (`protection_intent(revision)`), so replacing never collides with a live order.

Protection is sized on what actually filled and priced from the actual average entry, never on
the plan: `preview` shows what it would be if the plan filled entirely at its expected price.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from apps.exchange.domain.filters import snap_price
from apps.exchange.domain.types import InstrumentInfo, OrderRequest, Side

from .partial_exit import PartialExitManager, TakeProfitOrder
from .slippage import EntryPlan
from .trailing import TrailingConfig, TrailingStop, native_trailing_order, stop_market_order

__all__ = ["ExecutionPlan", "ProtectionPlan", "StopMode", "TrailingMode"]


class StopMode(StrEnum):
    REDUCE_ONLY = "REDUCE_ONLY"  # a quantity, reduce-only: can be replaced place-first
    CLOSE_POSITION = "CLOSE_POSITION"  # closePosition=true: closes whatever is open


class TrailingMode(StrEnum):
    MANAGED = "MANAGED"  # our state machine ratchets the stop-market (`TrailingStop`)
    NATIVE = "NATIVE"  # Binance's TRAILING_STOP_MARKET trails on the venue


@dataclass(frozen=True, slots=True)
class ProtectionPlan:
    stop: OrderRequest
    take_profits: tuple[TakeProfitOrder, ...]
    native_trailing: OrderRequest | None = None

    @property
    def orders(self) -> tuple[OrderRequest, ...]:
        """The orders in the order they must be sent: the stop first."""
        tail = () if self.native_trailing is None else (self.native_trailing,)
        return (self.stop, *(tp.order for tp in self.take_profits), *tail)


@dataclass(frozen=True, slots=True)
class ExecutionPlan:
    """Entry slices plus how the resulting position is protected. Raise ValueError when the
    stop is on the wrong side of the entry or a managed trailing stop meets a closePosition stop
    (those cannot be replaced place-first: Binance refuses a second one, -4130)."""

    entry: EntryPlan
    stop_price: Decimal
    info: InstrumentInfo
    stop_mode: StopMode = StopMode.REDUCE_ONLY
    exits: PartialExitManager | None = None
    trailing: TrailingConfig | None = None
    trailing_mode: TrailingMode = TrailingMode.MANAGED

    def __post_init__(self) -> None:
        ref = self.entry.reference_price
        wrong = self.stop_price >= ref if self.side is Side.BUY else self.stop_price <= ref
        if self.stop_price <= 0 or wrong:
            raise ValueError(
                f"{self.entry.symbol}: stop {self.stop_price} is on the wrong side of the "
                f"reference price {ref} for a {self.side} entry"
            )
        managed = self.trailing is not None and self.trailing_mode is TrailingMode.MANAGED
        if managed and self.stop_mode is StopMode.CLOSE_POSITION:
            raise ValueError(
                f"{self.entry.symbol}: a managed trailing stop needs a reduce-only stop, not "
                "closePosition (Binance refuses a second closePosition stop, -4130)"
            )

    @property
    def intent_id(self) -> str:
        return self.entry.intent_id

    @property
    def side(self) -> Side:
        return self.entry.side

    def protection_intent(self, revision: int = 0) -> str:
        """The intent id of the protection orders of `revision` (0: the entry's intent id)."""
        if revision < 0:
            raise ValueError(f"revision must be >= 0, got {revision}")
        return self.intent_id if revision == 0 else f"{self.intent_id}.r{revision}"

    def protection(
        self, *, filled_qty: Decimal, entry_price: Decimal, revision: int = 0
    ) -> ProtectionPlan:
        """Return the stop, take-profits and native trailing stop for what filled.

        `revision` > 0 gives fresh client ids for a re-sized protection. With
        `StopMode.CLOSE_POSITION` the revision-0 stop already covers any size: do not place a
        later revision's stop (Binance refuses a second closePosition stop, -4130).
        """
        intent = self.protection_intent(revision)
        if filled_qty <= 0 or entry_price <= 0:
            raise ValueError(
                f"filled quantity and entry price must be > 0: {filled_qty}, {entry_price}"
            )
        stop = stop_market_order(
            intent_id=intent,
            side=self.side,
            quantity=None if self.stop_mode is StopMode.CLOSE_POSITION else filled_qty,
            stop_price=self.stop_price,
            info=self.info,
        )
        tps: tuple[TakeProfitOrder, ...] = ()
        if self.exits is not None:
            tps = self.exits.plan(
                intent_id=intent,
                side=self.side,
                entry_price=entry_price,
                quantity=filled_qty,
                info=self.info,
            )
        native = None
        trailed = filled_qty - sum((tp.quantity for tp in tps), Decimal(0))
        native_mode = self.trailing is not None and self.trailing_mode is TrailingMode.NATIVE
        if self.trailing is not None and native_mode and trailed > 0:
            activation = None
            if self.trailing.activation > 0:
                activation = entry_price * (1 + self.trailing.activation * self.side.sign)
            native = native_trailing_order(
                intent_id=intent,
                side=self.side,
                quantity=trailed,
                callback_rate=self.trailing.native_callback_rate,
                info=self.info,
                activation_price=activation,
            )
        return ProtectionPlan(stop=stop, take_profits=tps, native_trailing=native)

    @property
    def preview(self) -> ProtectionPlan:
        """The protection if the whole entry filled at its expected price."""
        return self.protection(
            filled_qty=self.entry.total_qty, entry_price=self.entry.expected_price
        )

    def trailing_stop(self, *, entry_price: Decimal, revision: int = 0) -> TrailingStop | None:
        """A managed trailing stop starting from the protective stop of `revision` (its
        sequence 0), or None."""
        if self.trailing is None or self.trailing_mode is not TrailingMode.MANAGED:
            return None
        return TrailingStop(
            self.trailing,
            intent_id=self.protection_intent(revision),
            side=self.side,
            entry_price=entry_price,
            info=self.info,
            initial_stop=snap_price(self.info, self.stop_price),
        )
