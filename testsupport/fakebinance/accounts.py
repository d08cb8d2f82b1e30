"""One USDT-M futures account: wallet, positions, leverage, margin type, fees, funding, trades.

Margin model (documented simplifications): cross margin for everything (an ISOLATED setting is
stored and reported but margined as cross); initial margin = notional / leverage at the mark
price; maintenance margin rate 0.4 %; the liquidation price is the single-position cross
estimate; nothing is ever liquidated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from apps.exchange.domain.fees import DEFAULT_FEES

from .symbols import SPECS

ZERO = Decimal(0)
MAINT_RATE = Decimal("0.004")
# Binance USDⓈ-M regular-user fee tiers (USDT): VIP n -> (maker, taker)
FEE_TIERS: tuple[tuple[Decimal, Decimal], ...] = tuple(
    (Decimal(m), Decimal(t))
    for m, t in (
        ("0.0002", "0.0005"),
        ("0.00016", "0.0004"),
        ("0.00014", "0.00035"),
        ("0.00012", "0.00032"),
        ("0.0001", "0.0003"),
        ("0.00008", "0.00027"),
        ("0.00006", "0.00025"),
        ("0.00004", "0.00022"),
        ("0.00002", "0.0002"),
        ("0", "0.00017"),
    )
)
MAX_NOTIONAL = "10000000"  # the first leverage bracket's cap the fake reports


def fmt(value: Decimal, places: int = 8) -> str:
    return f"{value.quantize(Decimal(1).scaleb(-places)):f}"


@dataclass
class Position:
    symbol: str
    side: str  # BOTH | LONG | SHORT
    amt: Decimal = ZERO
    entry: Decimal = ZERO
    update_time: int = 0
    realized_total: Decimal = ZERO  # accumulated realized PnL ("cr" in ACCOUNT_UPDATE)

    def apply(self, signed_qty: Decimal, price: Decimal) -> Decimal:
        """Apply a fill of ``signed_qty`` at ``price``; return the realized PnL."""
        amt = self.amt
        if signed_qty == 0:
            return ZERO
        if amt == 0 or (amt > 0) == (signed_qty > 0):
            total = abs(amt) + abs(signed_qty)
            self.entry = (abs(amt) * self.entry + abs(signed_qty) * price) / total
            self.amt = amt + signed_qty
            return ZERO
        closing = min(abs(amt), abs(signed_qty))
        realized = closing * (price - self.entry) * (1 if amt > 0 else -1)
        self.amt = amt + signed_qty
        if self.amt == 0:
            self.entry = ZERO
        elif (self.amt > 0) != (amt > 0):
            self.entry = price
        return realized


@dataclass
class Trade:
    id: int
    order_id: int
    symbol: str
    side: str
    position_side: str
    price: Decimal
    qty: Decimal
    realized_pnl: Decimal
    commission: Decimal
    maker: bool
    time: int

    def as_json(self) -> dict[str, Any]:
        spec = SPECS[self.symbol]
        return {
            "buyer": self.side == "BUY",
            "commission": fmt(self.commission),
            "commissionAsset": "USDT",
            "id": self.id,
            "maker": self.maker,
            "orderId": self.order_id,
            "price": spec.fmt_price(self.price),
            "qty": spec.fmt_qty(self.qty),
            "quoteQty": fmt(self.price * self.qty, spec.price_precision + spec.quantity_precision),
            "realizedPnl": fmt(self.realized_pnl),
            "side": self.side,
            "positionSide": self.position_side,
            "symbol": self.symbol,
            "time": self.time,
        }


@dataclass
class Account:
    wallet: Decimal = Decimal(10_000)
    maker_fee: Decimal = DEFAULT_FEES.maker
    taker_fee: Decimal = DEFAULT_FEES.taker
    dual_side: bool = False
    leverage: dict[str, int] = field(default_factory=dict)
    margin_type: dict[str, str] = field(default_factory=dict)
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    trades: list[Trade] = field(default_factory=list)
    update_time: int = 0
    income: list[dict[str, Any]] = field(default_factory=list)  # /fapi/v1/income rows

    @property
    def fee_tier(self) -> int:
        """Return the VIP tier of the account's maker rate (the nearest tier at or above it)."""
        tiers = [i for i, (maker, _) in enumerate(FEE_TIERS) if maker >= self.maker_fee]
        return tiers[-1] if tiers else 0

    def add_income(
        self, kind: str, symbol: str, amount: Decimal, now: int, trade_id: int = 0
    ) -> None:
        self.income.append(
            {
                "symbol": symbol,
                "incomeType": kind,
                "income": fmt(amount),
                "asset": "USDT",
                "info": kind,
                "time": now,
                "tranId": 9_000_000 + len(self.income),
                "tradeId": str(trade_id) if trade_id else "",
            }
        )

    def lev(self, symbol: str) -> int:
        return self.leverage.get(symbol, 20)

    def position(self, symbol: str, side: str) -> Position:
        key = (symbol, side)
        if key not in self.positions:
            self.positions[key] = Position(symbol, side)
        return self.positions[key]

    def fill(
        self,
        *,
        trade_id: int,
        order_id: int,
        symbol: str,
        side: str,
        position_side: str,
        price: Decimal,
        qty: Decimal,
        maker: bool,
        now: int,
    ) -> Trade:
        """Book one fill: move the position, charge the fee, realize PnL, record the trade."""
        pos = self.position(symbol, position_side)
        realized = pos.apply(qty if side == "BUY" else -qty, price)
        pos.realized_total += realized
        fee = price * qty * (self.maker_fee if maker else self.taker_fee)
        self.wallet += realized - fee
        pos.update_time = self.update_time = now
        trade = Trade(
            trade_id,
            order_id,
            symbol,
            side,
            position_side,
            price,
            qty,
            realized,
            fee,
            maker,
            now,
        )
        self.trades.append(trade)
        if realized:
            self.add_income("REALIZED_PNL", symbol, realized, now, trade.id)
        self.add_income("COMMISSION", symbol, -fee, now, trade.id)
        return trade

    def apply_funding(self, symbol: str, mark: Decimal, rate: Decimal, now: int) -> Decimal:
        """Pay or receive funding on ``symbol``'s positions; return the wallet change."""
        change = ZERO
        for (sym, _), pos in self.positions.items():
            if sym == symbol and pos.amt != 0:
                change -= pos.amt * mark * rate
        if change:
            self.wallet += change
            self.update_time = now
            self.add_income("FUNDING_FEE", symbol, change, now)
        return change

    # -- derived figures ---------------------------------------------------------------------
    def unrealized(self, marks: dict[str, Decimal]) -> Decimal:
        return sum(
            (p.amt * (marks[p.symbol] - p.entry) for p in self.positions.values() if p.amt),
            ZERO,
        )

    def position_margin(self, marks: dict[str, Decimal]) -> Decimal:
        return sum(
            (abs(p.amt) * marks[p.symbol] / self.lev(p.symbol) for p in self.positions.values()),
            ZERO,
        )

    def maint_margin(self, marks: dict[str, Decimal]) -> Decimal:
        return sum(
            (abs(p.amt) * marks[p.symbol] * MAINT_RATE for p in self.positions.values()), ZERO
        )

    def available(self, marks: dict[str, Decimal], order_margin: Decimal) -> Decimal:
        return self.wallet + self.unrealized(marks) - self.position_margin(marks) - order_margin

    def liquidation_price(self, pos: Position) -> Decimal:
        if pos.amt == 0:
            return ZERO
        denom = pos.amt - abs(pos.amt) * MAINT_RATE
        price = (pos.amt * pos.entry - self.wallet) / denom
        return max(price, ZERO)

    def break_even(self, pos: Position) -> Decimal:
        """Return the price at which closing ``pos`` pays back the taker fee (0 when flat)."""
        if pos.amt == 0:
            return ZERO
        return pos.entry * (1 + self.taker_fee if pos.amt > 0 else 1 - self.taker_fee)

    def adl_quantile(self, pos: Position, mark: Decimal) -> int:
        """Return the auto-deleveraging quantile (0 flat; 1-4 by unrealized return on margin)."""
        if pos.amt == 0:
            return 0
        margin = abs(pos.amt) * mark / self.lev(pos.symbol)
        roe = pos.amt * (mark - pos.entry) / margin if margin else ZERO
        return 1 if roe <= 0 else 2 if roe < Decimal("0.5") else 3 if roe < 1 else 4

    def position_json(
        self,
        pos: Position,
        mark: Decimal,
        version: int,
        bid: Decimal = ZERO,
        ask: Decimal = ZERO,
    ) -> dict[str, Any]:
        """Return a ``positionRisk`` row; ``bid``/``ask`` are the open orders' notional on each
        side for this position (v3 reports them and their initial margin)."""
        spec = SPECS[pos.symbol]
        notional = pos.amt * mark
        upnl = pos.amt * (mark - pos.entry)
        im = abs(notional) / self.lev(pos.symbol)
        row: dict[str, Any] = {
            "symbol": pos.symbol,
            "positionSide": pos.side,
            "positionAmt": spec.fmt_qty(pos.amt),
            "entryPrice": fmt(pos.entry),
            "breakEvenPrice": fmt(self.break_even(pos)),
            "markPrice": fmt(mark),
            "unRealizedProfit": fmt(upnl),
            "liquidationPrice": fmt(self.liquidation_price(pos)),
            "notional": fmt(notional),
            # the fake margins everything as cross (module docstring): Binance sends "0" for
            # both in cross mode
            "isolatedMargin": "0",
            "isolatedWallet": "0",
            # 0 for a position never opened, as Binance sends
            "updateTime": pos.update_time,
        }
        if version == 2:
            row.update(
                marginType=self.margin_type.get(pos.symbol, "cross"),
                isAutoAddMargin="false",
                leverage=str(self.lev(pos.symbol)),
                maxNotionalValue=MAX_NOTIONAL,
            )
        else:
            row.update(
                marginAsset="USDT",
                initialMargin=fmt(im + (bid + ask) / self.lev(pos.symbol)),
                maintMargin=fmt(abs(notional) * MAINT_RATE),
                positionInitialMargin=fmt(im),
                openOrderInitialMargin=fmt((bid + ask) / self.lev(pos.symbol)),
                adl=self.adl_quantile(pos, mark),
                bidNotional=fmt(bid),
                askNotional=fmt(ask),
            )
        return row

    def account_position_json(
        self,
        pos: Position,
        mark: Decimal,
        version: int,
        bid: Decimal = ZERO,
        ask: Decimal = ZERO,
    ) -> dict[str, Any]:
        """Return a ``positions`` entry of GET /fapi/v2|v3/account (not the positionRisk shape)."""
        spec = SPECS[pos.symbol]
        notional = pos.amt * mark
        im = abs(notional) / self.lev(pos.symbol)
        order_im = (bid + ask) / self.lev(pos.symbol)
        row: dict[str, Any] = {
            "symbol": pos.symbol,
            "positionSide": pos.side,
            "positionAmt": spec.fmt_qty(pos.amt),
            "unrealizedProfit": fmt(pos.amt * (mark - pos.entry)),
            "notional": fmt(notional),
            "isolatedWallet": "0",
            "initialMargin": fmt(im + order_im),
            "maintMargin": fmt(abs(notional) * MAINT_RATE),
            "updateTime": pos.update_time,
        }
        if version == 3:
            row["isolatedMargin"] = "0"  # cross margin (see position_json)
        else:
            row.update(
                positionInitialMargin=fmt(im),
                openOrderInitialMargin=fmt(order_im),
                leverage=str(self.lev(pos.symbol)),
                isolated=self.margin_type.get(pos.symbol, "cross") == "isolated",
                entryPrice=fmt(pos.entry),
                breakEvenPrice=fmt(self.break_even(pos)),
                maxNotional=MAX_NOTIONAL,
                bidNotional=fmt(bid),
                askNotional=fmt(ask),
                # not in Binance's v2 entry (it has "isolated"); kept because an existing test
                # (tests/exchange/fakebinance/test_engine.py) reads it
                marginType=self.margin_type.get(pos.symbol, "cross"),
            )
        return row

    def position_event(self, pos: Position, mark: Decimal) -> dict[str, Any]:
        return {
            "s": pos.symbol,
            "pa": SPECS[pos.symbol].fmt_qty(pos.amt),
            "ep": fmt(pos.entry),
            "bep": fmt(self.break_even(pos)),
            "cr": fmt(pos.realized_total),
            "up": fmt(pos.amt * (mark - pos.entry)),
            "mt": self.margin_type.get(pos.symbol, "cross"),
            "iw": "0",  # isolated wallet: "0" in cross margin, as Binance sends
            "ps": pos.side,
        }

    def balance_event(self, change: Decimal) -> dict[str, Any]:
        """Return a "B" entry; ``change`` is Binance's "bc" (balance change except PnL and
        commission: 0 for trades, the amount for funding)."""
        return {"a": "USDT", "wb": fmt(self.wallet), "cw": fmt(self.wallet), "bc": fmt(change)}
