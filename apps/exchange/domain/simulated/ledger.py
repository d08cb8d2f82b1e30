"""Wallet, one-way positions, margin and liquidation bookkeeping of the simulator.

Accounting (one quote asset, USDT):
- Money amounts that reach the wallet (realized PnL, fees, funding, isolated margin) are
  rounded half-even to 8 decimals (`money`), as Binance reports USDT, so sums are exact.
- `wallet` changes only by realized PnL, fees and funding, so over any period
  `wallet_after - wallet_before == sum(realized_pnl) - sum(fees) + sum(funding amounts)`
  (funding amounts are negative when paid).
- Opening or adding to a position averages the entry price; reducing realizes
  `(exit - entry) * closed_qty` for a long (mirrored for a short); a fill through zero closes
  then opens the remainder at the fill price.
- Isolated margin: each increase allocates `price * qty / leverage` of the wallet to the
  position; a reduction releases it pro rata; funding of an isolated position also moves it.
- Available balance = wallet - isolated margins - cross initial margins (|qty| * mark / lev)
  - open-order margin + cross unrealized PnL.
- Maintenance margin = `mmr * |qty| * mark` (one flat rate, no Binance brackets).
- Liquidation price solves `margin + unrealized(P) == mmr * |qty| * P` where margin is the
  isolated margin, or for cross the wallet less isolated margins plus the other cross
  positions' (unrealized - maintenance) at their current marks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from ..types import ZERO, MarginType, Side

MONEY_QUANTUM = Decimal("1E-8")


def money(value: Decimal) -> Decimal:
    """Round an amount of the quote asset to 8 decimals, half-even."""
    return value.quantize(MONEY_QUANTUM, rounding=ROUND_HALF_EVEN)


@dataclass(slots=True)
class PositionState:
    leverage: int
    margin_type: MarginType = MarginType.CROSSED
    qty: Decimal = ZERO  # signed
    entry: Decimal = ZERO
    isolated_margin: Decimal = ZERO

    def unrealized(self, mark: Decimal) -> Decimal:
        return (mark - self.entry) * self.qty

    def initial_margin(self, mark: Decimal) -> Decimal:
        return abs(self.qty) * mark / self.leverage


class Ledger:
    def __init__(
        self, *, wallet: Decimal, maintenance_margin_rate: Decimal, default_leverage: int
    ) -> None:
        self.wallet = wallet
        self.mmr = maintenance_margin_rate
        self.default_leverage = default_leverage
        self.positions: dict[str, PositionState] = {}

    def position(self, symbol: str) -> PositionState:
        state = self.positions.get(symbol)
        if state is None:
            state = self.positions[symbol] = PositionState(leverage=self.default_leverage)
        return state

    def apply_fill(self, symbol: str, side: Side, qty: Decimal, price: Decimal) -> Decimal:
        """Move the position by a fill and return the realized PnL (already in the wallet)."""
        pos = self.position(symbol)
        signed = qty * side.sign
        realized = ZERO
        if pos.qty == 0 or (pos.qty > 0) == (signed > 0):
            new_qty = pos.qty + signed
            pos.entry = (pos.entry * abs(pos.qty) + price * qty) / abs(new_qty)
            pos.qty = new_qty
            if pos.margin_type is MarginType.ISOLATED:
                pos.isolated_margin += money(price * qty / pos.leverage)
        else:
            closing = min(qty, abs(pos.qty))
            direction = 1 if pos.qty > 0 else -1
            realized = money((price - pos.entry) * closing * direction)
            before = abs(pos.qty)
            pos.qty += closing * side.sign
            if pos.margin_type is MarginType.ISOLATED:
                pos.isolated_margin = money(pos.isolated_margin * abs(pos.qty) / before)
            opening = qty - closing
            if pos.qty == 0:
                pos.entry = ZERO
                if opening > 0:
                    pos.qty = opening * side.sign
                    pos.entry = price
                    if pos.margin_type is MarginType.ISOLATED:
                        pos.isolated_margin = money(price * opening / pos.leverage)
        self.wallet += realized
        return realized

    def cross_unrealized(self, marks: Mapping[str, Decimal]) -> Decimal:
        return sum(
            (
                p.unrealized(marks.get(s, p.entry))
                for s, p in self.positions.items()
                if p.qty and p.margin_type is MarginType.CROSSED
            ),
            ZERO,
        )

    def unrealized(self, marks: Mapping[str, Decimal]) -> Decimal:
        return sum(
            (p.unrealized(marks.get(s, p.entry)) for s, p in self.positions.items() if p.qty),
            ZERO,
        )

    def available(self, marks: Mapping[str, Decimal], order_margin: Decimal) -> Decimal:
        used = ZERO
        for symbol, p in self.positions.items():
            if not p.qty:
                continue
            if p.margin_type is MarginType.ISOLATED:
                used += p.isolated_margin
            else:
                used += p.initial_margin(marks.get(symbol, p.entry))
        return self.wallet - used - order_margin + self.cross_unrealized(marks)

    def liquidation_price(self, symbol: str, marks: Mapping[str, Decimal]) -> Decimal | None:
        """Price at which the position's margin falls to maintenance; None if flat or never."""
        pos = self.positions.get(symbol)
        if pos is None or pos.qty == 0:
            return None
        if pos.margin_type is MarginType.ISOLATED:
            margin = pos.isolated_margin
        else:
            margin = self.wallet
            for other, p in self.positions.items():
                if not p.qty:
                    continue
                if p.margin_type is MarginType.ISOLATED:
                    margin -= p.isolated_margin
                elif other != symbol:
                    mark = marks.get(other, p.entry)
                    margin += p.unrealized(mark) - self.mmr * abs(p.qty) * mark
        q = abs(pos.qty)
        if pos.qty > 0:
            price = (pos.entry * q - margin) / (q * (1 - self.mmr))
            return price if price > 0 else None
        return (pos.entry * q + margin) / (q * (1 + self.mmr))

    def clearance_fee(self, symbol: str, price: Decimal) -> Decimal:
        """Fee taken when the whole position is liquidated at `price`; call before the fill.

        Isolated: what is left of the position's margin at that price, so the whole margin is
        lost (negative when a gap overshot the bankruptcy price and the insurance fund pays).
        Cross: the maintenance margin at that price.
        """
        pos = self.position(symbol)
        if pos.margin_type is MarginType.ISOLATED:
            return money(pos.isolated_margin + pos.unrealized(price))
        return money(self.mmr * abs(pos.qty) * price)
