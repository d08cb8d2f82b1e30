"""The platform's critical alerts that become notices, read from the event bus's ``alert`` events.

Two alerts are raised only as ``alert`` events (``apps.events.publish_event``) with
``level: critical`` and a one-line ``message``, never as a row of their own:

- reconciliation could not re-place a missing stop-loss: the venue rejected it
  (``apps.trading.engine.reconcile``): ``reconcile: could not re-place stop CID for SYMBOL at
  PRICE: REASON``; the position is left without its stop;
- an exit order of a trade that has ended filled (``fill_apply``): ``exit order CID of ended
  trade N filled QTY SYMBOL (venue trade T); not booked to trade M`` (or ``any trade``); the
  venue moved the position, no trade was charged with it.

Each carries a ``code`` (``stop_rejected`` / ``ended_trade_fill``) and its ``fields`` in the
event, set where it is raised: :func:`platform_alert` reads those, never the wording of the
message. Other ``alert`` events (the performance review's, a reconciliation halt, which is told
by the bot's state) give None.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

STOP_REJECTED = "stop_rejected"
ENDED_TRADE_FILL = "ended_trade_fill"

_FIELDS = {
    STOP_REJECTED: ("cid", "symbol", "price", "reason"),
    ENDED_TRADE_FILL: ("cid", "trade", "qty", "symbol", "venue_trade", "booked"),
}


@dataclass(frozen=True, slots=True)
class PlatformAlert:
    event: str  # STOP_REJECTED or ENDED_TRADE_FILL (a NotificationEvent value)
    subject: str
    text: str
    dedup_key: str
    details: dict[str, str]


def platform_alert(
    *, bot: str, level: str, code: str, fields: Mapping[str, object]
) -> PlatformAlert | None:
    """The notice an ``alert`` event makes, or None when it is not one of the two."""
    if level != "critical" or code not in (STOP_REJECTED, ENDED_TRADE_FILL):
        return None
    d = {name: str(fields.get(name, "")) for name in _FIELDS[code]}
    if code == STOP_REJECTED:
        return PlatformAlert(
            event=STOP_REJECTED,
            subject=f"{bot}: stop-loss not placed on {d['symbol']}",
            text=(
                f"STOP NOT PLACED: {bot} {d['symbol']} has no stop-loss on the venue. "
                f"Reconciliation re-placed stop {d['cid']} at {d['price']} and the venue "
                f"rejected it: {d['reason']}. Protect or close the position by hand."
            ),
            dedup_key=f"{STOP_REJECTED}:{bot}:{d['cid']}",
            details=d,
        )
    return PlatformAlert(
        event=ENDED_TRADE_FILL,
        subject=f"{bot}: exit order of ended trade {d['trade']} filled on {d['symbol']}",
        text=(
            f"EXIT FILL OF AN ENDED TRADE: {bot} exit order {d['cid']} of trade "
            f"{d['trade']} (ended) filled {d['qty']} {d['symbol']} (venue trade "
            f"{d['venue_trade']}); the position moved, not booked to {d['booked']}. "
            "Check the position on the venue."
        ),
        dedup_key=f"{ENDED_TRADE_FILL}:{bot}:{d['cid']}:{d['venue_trade']}",
        details=d,
    )
