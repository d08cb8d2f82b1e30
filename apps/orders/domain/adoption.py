"""Orders found on the venue that the bot's records do not hold: what they were for.

Two kinds: the bot's own orders whose record was lost (sent, then a crash before the row
committed, or placed while the platform was away; recognised by the bot's client id prefix),
and the exchange's liquidation orders, which close a position on their own (Binance names them
``autoclose-<n>``, ADL ``adl_autoclose-<n>``; the simulated exchange does the same).
"""

from __future__ import annotations

from apps.exchange.domain.ids import client_order_id
from apps.exchange.domain.types import OrderReport, OrderRequest, OrderType

LIQUIDATION_PREFIXES = ("autoclose", "adl_autoclose")


def is_liquidation_id(venue_client_id: str) -> bool:
    return venue_client_id.startswith(LIQUIDATION_PREFIXES)


def liquidation_client_id(bot_key: str, venue_client_id: str) -> str:
    """Our record's id (``bot_key`` is "b<bot id>") for a venue liquidation order: venue ids
    repeat across accounts and simulated exchanges."""
    return client_order_id(bot_key, "liq", venue_client_id)


def infer_purpose(report: OrderReport) -> str:
    """The purpose (``Order.Purpose`` value) of an order seen only on the venue."""
    if is_liquidation_id(report.client_order_id):
        return "liquidation"
    reduces = report.reduce_only or report.close_position
    if report.type is OrderType.STOP_MARKET and reduces:
        return "stop_loss"
    if report.type is OrderType.TAKE_PROFIT_MARKET and reduces:
        return "take_profit"
    if report.type is OrderType.TRAILING_STOP_MARKET:
        return "trailing_stop"
    return "exit" if reduces else "entry"


def request_from_report(report: OrderReport, *, client_order_id: str | None = None) -> OrderRequest:
    """The request that would have placed ``report``'s order (to record it as sent)."""
    return OrderRequest(
        symbol=report.symbol,
        side=report.side,
        type=report.type,
        quantity=None if report.close_position else report.quantity,
        price=report.price if report.type is OrderType.LIMIT else None,
        trigger_price=report.trigger_price,
        time_in_force=report.time_in_force if report.type is OrderType.LIMIT else None,
        reduce_only=report.reduce_only and not report.close_position,
        close_position=report.close_position,
        position_side=report.position_side,
        activation_price=report.activation_price,
        callback_rate=report.callback_rate,
        client_order_id=client_order_id or report.client_order_id,
    )
