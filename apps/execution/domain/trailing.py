"""Trailing stop-loss: a state machine that ratchets a stop-market order, or Binance's native one.

The state machine is fed prices: ticks (`update`) or, once per closed candle, the candle's
favourable extreme and close (`update_candle`). It stays inactive until the best price reaches
the activation price (`entry * (1 + activation)` for a long, `entry * (1 - activation)` for a
short); then the candidate stop is the best price since activation moved back by `callback`
(a fraction), snapped away from the market (down for a long, up for a short). The stop only ever
moves in the position's favour, and only by at least the minimum move (`min_move_ticks` ticks and
`min_move_bps` of the current stop, whichever is larger), so the exchange is not churned with
replacements worth a tick. `stop` always equals the stop resting on the exchange: it changes only
when an update says `replace=True`.

Replacement order: the NEW stop-market (reduce-only, quantity given, client id with the next
sequence number) is placed first, and the OLD one is cancelled only after that succeeded. Cancelling
first would leave the position without a stop for a round trip (and for ever, if the place then
fails); placing first never does. Binance accepts several reduce-only stops on one position, and
reduce-only orders cannot open or flip a position, so the brief overlap is harmless: if both
trigger, the second finds nothing to reduce. `closePosition` stops cannot be replaced this way
(Binance refuses a second one in the same direction, -4130), so trailing stops carry a quantity.

Native alternative: `native_trailing_order` returns one TRAILING_STOP_MARKET request (activation
price, callback rate in percent, validated to Binance's 0.1..10) that the venue trails itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from apps.exchange.domain.filters import Rounding, snap_price, snap_quantity
from apps.exchange.domain.ids import client_order_id
from apps.exchange.domain.types import InstrumentInfo, OrderRequest, OrderType, Side

__all__ = [
    "NATIVE_CALLBACK_MAX",
    "NATIVE_CALLBACK_MIN",
    "ReplaceStep",
    "StepKind",
    "StopReplacePlan",
    "StopUpdate",
    "TrailingConfig",
    "TrailingStop",
    "native_trailing_order",
    "stop_client_order_id",
    "stop_market_order",
]

ZERO = Decimal(0)
ONE = Decimal(1)
BPS = Decimal(10_000)
NATIVE_CALLBACK_MIN = Decimal("0.1")  # percent
NATIVE_CALLBACK_MAX = Decimal(10)  # percent


@dataclass(frozen=True, slots=True)
class TrailingConfig:
    """`callback` and `activation` are fractions (0.01 = 1 %); raise ValueError when invalid."""

    callback: Decimal
    activation: Decimal = ZERO
    min_move_ticks: int = 1
    min_move_bps: Decimal = ZERO

    def __post_init__(self) -> None:
        if not ZERO < self.callback < Decimal("0.5"):
            raise ValueError(f"trailing callback must be in (0, 0.5), got {self.callback}")
        if not ZERO <= self.activation < ONE:
            raise ValueError(f"trailing activation must be in [0, 1), got {self.activation}")
        if self.min_move_ticks < 1:
            raise ValueError(f"min_move_ticks must be >= 1, got {self.min_move_ticks}")
        if self.min_move_bps < 0:
            raise ValueError(f"min_move_bps must be >= 0, got {self.min_move_bps}")

    @property
    def native_callback_rate(self) -> Decimal:
        """The callback as Binance's percentage (1 = 1 %)."""
        return self.callback * 100


@dataclass(frozen=True, slots=True)
class StopUpdate:
    """The stop after one update. `replace`: the exchange stop must be replaced by `new_stop`.
    `triggered`: the price is at or through the stop (or the trail), so the position is exiting
    or should be closed; nothing is replaced then."""

    new_stop: Decimal | None
    replace: bool
    active: bool
    triggered: bool = False
    reason: str = ""


class StepKind(StrEnum):
    PLACE = "PLACE"
    CANCEL = "CANCEL"


@dataclass(frozen=True, slots=True)
class ReplaceStep:
    kind: StepKind
    client_order_id: str
    order: OrderRequest | None = None


@dataclass(frozen=True, slots=True)
class StopReplacePlan:
    """Place `place`, and only once it is accepted cancel `cancel_client_order_id`.

    If the place is rejected, keep the old stop (do not cancel) and report the error.
    """

    place: OrderRequest
    cancel_client_order_id: str | None

    @property
    def steps(self) -> tuple[ReplaceStep, ...]:
        assert self.place.client_order_id is not None
        first = ReplaceStep(StepKind.PLACE, self.place.client_order_id, self.place)
        if self.cancel_client_order_id is None:
            return (first,)
        return (first, ReplaceStep(StepKind.CANCEL, self.cancel_client_order_id))


def stop_client_order_id(intent_id: str, sequence: int) -> str:
    """The client id of the position's protective stop number `sequence` (0 = the first)."""
    return client_order_id(intent_id, "sl", sequence)


def stop_market_order(
    *,
    intent_id: str,
    side: Side,
    quantity: Decimal | None,
    stop_price: Decimal,
    info: InstrumentInfo,
    sequence: int = 0,
) -> OrderRequest:
    """Return the protective STOP_MARKET of a position opened by `side` (BUY = long).

    With a quantity it is reduce-only; with `quantity=None` it is a `closePosition` stop.
    """
    exit_side = side.opposite
    qty = None if quantity is None else snap_quantity(info, quantity, market=True)
    return OrderRequest(
        symbol=info.symbol,
        side=exit_side,
        type=OrderType.STOP_MARKET,
        quantity=qty,
        trigger_price=snap_price(info, stop_price, Rounding.NEAREST),
        reduce_only=quantity is not None,
        close_position=quantity is None,
        client_order_id=stop_client_order_id(intent_id, sequence),
    )


def native_trailing_order(
    *,
    intent_id: str,
    side: Side,
    quantity: Decimal,
    callback_rate: Decimal,
    info: InstrumentInfo,
    activation_price: Decimal | None = None,
    last_price: Decimal | None = None,
) -> OrderRequest:
    """Return a reduce-only TRAILING_STOP_MARKET for a position opened by `side` (BUY = long).

    `callback_rate` is in percent (1 = 1 %), valid in 0.1..10 as on Binance. An activation
    price must lie beyond `last_price` in the position's favour, else the venue would reject it
    as immediately triggering. Raise ValueError with a one-line reason otherwise.
    """
    if not NATIVE_CALLBACK_MIN <= callback_rate <= NATIVE_CALLBACK_MAX:
        raise ValueError(
            f"{info.symbol}: callback rate {callback_rate} % outside "
            f"{NATIVE_CALLBACK_MIN}..{NATIVE_CALLBACK_MAX} %"
        )
    activation = None
    if activation_price is not None:
        activation = snap_price(info, activation_price)
        if last_price is not None:
            beyond = activation > last_price if side is Side.BUY else activation < last_price
            if not beyond:
                raise ValueError(
                    f"{info.symbol}: activation price {activation} would trigger at once "
                    f"(last price {last_price})"
                )
    return OrderRequest(
        symbol=info.symbol,
        side=side.opposite,
        type=OrderType.TRAILING_STOP_MARKET,
        quantity=snap_quantity(info, quantity, market=True),
        activation_price=activation,
        callback_rate=callback_rate,
        reduce_only=True,
        client_order_id=client_order_id(intent_id, "trail"),
    )


class TrailingStop:
    """The trailing state of one position opened by `side` (BUY = long) at `entry_price`.

    `initial_stop` is the protective stop already on the exchange (client id sequence
    `sequence`), or None when there is none.
    """

    def __init__(
        self,
        config: TrailingConfig,
        *,
        intent_id: str,
        side: Side,
        entry_price: Decimal,
        info: InstrumentInfo,
        initial_stop: Decimal | None = None,
        sequence: int = 0,
    ) -> None:
        if entry_price <= 0:
            raise ValueError(f"entry price must be > 0, got {entry_price}")
        self.config = config
        self.intent_id = intent_id
        self.side = side
        self.entry_price = entry_price
        self.info = info
        self.stop = initial_stop
        self.sequence = sequence
        self.best: Decimal | None = None
        self.active = False
        self._on_exchange = initial_stop is not None

    @property
    def activation_price(self) -> Decimal:
        return self.entry_price * (ONE + self.config.activation * self.side.sign)

    @property
    def _long(self) -> bool:
        return self.side is Side.BUY

    def _better(self, a: Decimal, b: Decimal) -> bool:
        """True if price `a` is strictly better for the position than `b`."""
        return a > b if self._long else a < b

    def update(self, price: Decimal) -> StopUpdate:
        """Feed one tick (the last trade or mark price)."""
        return self._feed(price, price)

    def update_candle(self, high: Decimal, low: Decimal, close: Decimal) -> StopUpdate:
        """Feed one closed candle: its favourable extreme moves the trail, its close is the
        price the new stop must stay behind."""
        if low > high:
            raise ValueError(f"candle low {low} above high {high}")
        return self._feed(high if self._long else low, close)

    def _feed(self, extreme: Decimal, last: Decimal) -> StopUpdate:
        if self.stop is not None and not self._better(last, self.stop):
            return StopUpdate(self.stop, False, self.active, True, f"price {last} hit the stop")
        if self.best is None or self._better(extreme, self.best):
            self.best = extreme
        if not self.active:
            if self._better(self.activation_price, self.best):
                return StopUpdate(self.stop, False, False, reason="not activated")
            self.active = True
        cfg, info = self.config, self.info
        raw = self.best * (ONE - cfg.callback * self.side.sign)
        candidate = snap_price(info, raw, Rounding.DOWN if self._long else Rounding.UP)
        if not self._better(last, candidate):
            return StopUpdate(
                self.stop, False, True, True, f"price {last} is through the trail {candidate}"
            )
        if self.stop is not None:
            threshold = max(info.tick_size * cfg.min_move_ticks, self.stop * cfg.min_move_bps / BPS)
            if not self._better(candidate, self.stop) or abs(candidate - self.stop) < threshold:
                return StopUpdate(self.stop, False, True, reason="move below threshold")
        self.stop = candidate
        return StopUpdate(candidate, True, True, reason=f"trail to {candidate}")

    def replace_plan(self, update: StopUpdate, *, quantity: Decimal) -> StopReplacePlan:
        """Return the place-then-cancel plan for a `replace=True` update, advancing the
        sequence; raise ValueError for an update that replaces nothing."""
        if not update.replace or update.new_stop is None:
            raise ValueError(f"{self.info.symbol}: update does not replace the stop")
        cancel = stop_client_order_id(self.intent_id, self.sequence) if self._on_exchange else None
        self.sequence += 1
        self._on_exchange = True
        order = stop_market_order(
            intent_id=self.intent_id,
            side=self.side,
            quantity=quantity,
            stop_price=update.new_stop,
            info=self.info,
            sequence=self.sequence,
        )
        return StopReplacePlan(place=order, cancel_client_order_id=cancel)

    def native_order(self, *, quantity: Decimal, last_price: Decimal | None = None) -> OrderRequest:
        """The equivalent native TRAILING_STOP_MARKET (callback as a percentage)."""
        activation = self.activation_price if self.config.activation > 0 else None
        return native_trailing_order(
            intent_id=self.intent_id,
            side=self.side,
            quantity=quantity,
            callback_rate=self.config.native_callback_rate,
            info=self.info,
            activation_price=activation,
            last_price=last_price,
        )
