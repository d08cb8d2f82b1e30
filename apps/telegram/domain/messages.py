"""The texts the bot sends: short, plain (no markup), numbers as the platform prints them
(prices to the tick, quantities to the step, money to cents with a sign on PnL)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from apps.core.domain.formatting import fmt_money, fmt_price, fmt_qty
from apps.telegram.domain.commands import HELP_LINES

MAX_LENGTH = 4096  # Telegram's limit for one message
QUOTE = "USDT"


def clip(text: str, limit: int = MAX_LENGTH) -> str:
    return text if len(text) <= limit else text[: limit - 2] + " …"


def pnl(value: Decimal) -> str:
    return f"{fmt_money(value, sign=True)} {QUOTE}"


def roi_text(value: Decimal | None) -> str:
    if value is None:
        return ""
    return f"{'+' if value > 0 else ''}{value.quantize(Decimal('0.01'))} %"


@dataclass(frozen=True, slots=True)
class TradeView:
    bot: str
    symbol: str
    side: str
    quantity: Decimal
    entry_price: Decimal
    exit_price: Decimal | None = None
    net_pnl: Decimal | None = None  # realised - fees - funding
    roi: Decimal | None = None  # % of margin
    exit_reason: str = ""
    tick: Decimal | None = None
    step: Decimal | None = None


def trade_opened(t: TradeView) -> str:
    return (
        f"Trade opened: {t.bot} {t.side} {fmt_qty(t.quantity, t.step)} {t.symbol} "
        f"@ {fmt_price(t.entry_price, t.tick)}"
    )


def trade_closed(t: TradeView) -> str:
    line = (
        f"Trade closed: {t.bot} {t.side} {fmt_qty(t.quantity, t.step)} {t.symbol} "
        f"{fmt_price(t.entry_price, t.tick)} -> {fmt_price(t.exit_price, t.tick)}, "
        f"PnL {pnl(t.net_pnl or Decimal(0))}"
    )
    if t.roi is not None:
        line += f" (ROI {roi_text(t.roi)})"
    if t.exit_reason:
        line += f", {t.exit_reason.replace('_', ' ')}"
    return line


def bot_state(*, bot: str, state: str, cause: str, reason: str, headline: str) -> str:
    """E.g. ``KILL SWITCH: ema-btc halted (kill switch: drill)``."""
    text = f"{headline}: {bot} {state}"
    if reason:
        text += f" ({reason})"
    elif cause:
        text += f" ({cause})"
    return text


def breaker(*, bot: str, tier: str, reason: str) -> str:
    if not tier:
        return f"Circuit breaker: {bot} clear again"
    return f"Circuit breaker: {bot} {tier}" + (f" ({reason})" if reason else "")


@dataclass(frozen=True, slots=True)
class BotLine:
    name: str
    state: str
    reason: str
    mode: str
    open_positions: int
    pnl_today: Decimal
    breaker: str


def status(lines: Sequence[BotLine]) -> str:
    if not lines:
        return "No bots."
    out = [f"Bots ({len(lines)}):"]
    for b in lines:
        state = b.state + (f" ({b.reason})" if b.reason and b.state != "running" else "")
        out.append(
            f"{b.name}: {state}; {b.mode}; {b.open_positions} open; today "
            f"{pnl(b.pnl_today)}; breaker {b.breaker or 'clear'}"
        )
    return clip("\n".join(out))


@dataclass(frozen=True, slots=True)
class ProfitLine:
    bot: str
    closed: int
    wins: int
    net_total: Decimal
    net_today: Decimal


def _win_rate(wins: int, closed: int) -> str:
    return f"{Decimal(wins * 100) / closed:.1f} %" if closed else "-"


def profit(lines: Sequence[ProfitLine]) -> str:
    if not lines:
        return "No bots."
    out = ["Net PnL of closed trades (after fees and funding):"]
    for p in lines:
        out.append(
            f"{p.bot}: total {pnl(p.net_total)}, today {pnl(p.net_today)}; {p.closed} closed, "
            f"win rate {_win_rate(p.wins, p.closed)}"
        )
    closed = sum(p.closed for p in lines)
    wins = sum(p.wins for p in lines)
    total = sum((p.net_total for p in lines), Decimal(0))
    today = sum((p.net_today for p in lines), Decimal(0))
    out.append(
        f"All: total {pnl(total)}, today {pnl(today)}; {closed} closed, "
        f"win rate {_win_rate(wins, closed)}"
    )
    return clip("\n".join(out))


@dataclass(frozen=True, slots=True)
class BalanceLine:
    bot: str
    account: str
    start: Decimal
    net: Decimal
    unrealized: Decimal

    @property
    def equity(self) -> Decimal:
        return self.start + self.net + self.unrealized


def balance(lines: Sequence[BalanceLine]) -> str:
    if not lines:
        return "No bots."
    out = [f"Equity ({QUOTE}):"]
    for b in lines:
        out.append(
            f"{b.bot} ({b.account}): {fmt_money(b.equity)} = start {fmt_money(b.start)}, "
            f"net {fmt_money(b.net, sign=True)}, unrealised {fmt_money(b.unrealized, sign=True)}"
        )
    out.append(f"All bots: {fmt_money(sum((b.equity for b in lines), Decimal(0)))}")
    return clip("\n".join(out))


@dataclass(frozen=True, slots=True)
class PositionLine:
    bot: str
    symbol: str
    side: str
    quantity: Decimal
    entry_price: Decimal
    mark_price: Decimal | None
    unrealized: Decimal
    stop_price: Decimal | None
    tick: Decimal | None = None
    step: Decimal | None = None


def positions(lines: Sequence[PositionLine]) -> str:
    if not lines:
        return "No open positions."
    out = [f"Open positions ({len(lines)}):"]
    for p in lines:
        text = (
            f"{p.bot} {p.symbol} {p.side} {fmt_qty(abs(p.quantity), p.step)} "
            f"@ {fmt_price(p.entry_price, p.tick)}"
        )
        if p.mark_price is not None:
            text += f", mark {fmt_price(p.mark_price, p.tick)}"
        text += f", uPnL {pnl(p.unrealized)}"
        if p.stop_price is not None:
            text += f", stop {fmt_price(p.stop_price, p.tick)}"
        out.append(text)
    return clip("\n".join(out))


def help_text() -> str:
    return "\n".join(["Commands:", *(f"{cmd} - {what}" for cmd, what in HELP_LINES)])


def killswitch_prompt(*, bots: Sequence[str], code: str, seconds: int) -> str:
    target = ", ".join(bots) if bots else "ALL bots"
    return (
        f"Kill switch for {target}: cancels every order, closes every position at market and "
        f"halts. To go ahead send /confirm {code} within {seconds} s."
    )


@dataclass(frozen=True, slots=True)
class KillReport:
    bot: str
    orders_canceled: int
    positions_closed: int
    open_orders_left: int
    open_positions_left: int
    error: str = ""


def killswitch_done(reports: Sequence[KillReport]) -> str:
    if not reports:
        return "Kill switch: no bots."
    out = ["Kill switch done:"]
    for r in reports:
        line = (
            f"{r.bot}: canceled {r.orders_canceled} order(s), closed {r.positions_closed} "
            f"position(s), left open {r.open_orders_left} order(s) / "
            f"{r.open_positions_left} position(s); halted"
        )
        if r.error:
            line += f". FAILED: {r.error[:200]}"
        out.append(line)
    return clip("\n".join(out))


@dataclass(frozen=True, slots=True)
class DayLine:
    bot: str
    closed: int
    wins: int
    net: Decimal


def daily_summary(*, day: date, lines: Sequence[DayLine], open_positions: int) -> str:
    closed = sum(d.closed for d in lines)
    wins = sum(d.wins for d in lines)
    net = sum((d.net for d in lines), Decimal(0))
    out = [
        f"Daily summary {day.isoformat()} (UTC): {closed} trade(s) closed, {wins} won, "
        f"net {pnl(net)}; {open_positions} position(s) open"
    ]
    out += [f"{d.bot}: {d.closed} closed, {d.wins} won, net {pnl(d.net)}" for d in lines]
    return clip("\n".join(out))


def flood_notice(*, limit: int, retry_in: float) -> str:
    return (
        f"Too many commands: at most {limit} a minute. Ignoring this chat's commands for "
        f"about {max(1, round(retry_in))} s."
    )
