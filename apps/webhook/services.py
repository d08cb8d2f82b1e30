"""Receiving a TradingView signal: authenticate, refuse stale and repeated ones, check it can be
acted on, store it exactly once, and hand it to a worker.

Order of the checks (each failure ends the request; a refusal stores nothing unless it says so):

1. source address (the peer, or X-Forwarded-For behind ``WEBHOOK_TRUSTED_PROXIES``; an entry
   that is not an IP address is a 400);
2. on the raw bytes, before the body is parsed: the address allowlist, then the HMAC signature
   (when configured): 401;
3. the body is parsed strictly (``domain.payload.parse_alert``: JSON object, no NUL, no unpaired
   surrogate, no NaN/Infinity/1e400, bounded nesting): 400;
4. the passphrase in it (the one part of authentication that lives in the body): 401, one
   message for every authentication failure, so a caller learns nothing about which part was
   wrong. Steps 2-4 failing count against the source's ``WEBHOOK_AUTH_FAILURE_RATE``; a source
   over it gets 429 for its unauthenticated requests only;
5. the authenticated bot's rate (``WEBHOOK_THROTTLE_RATE``): 429;
6. body fields: 400 with field errors;
7. staleness (the signal's ``time`` against the bot's ``max_signal_age_s``): 422;
8. repeat delivery (same ``alert_id``, or same body within ``WEBHOOK_REPLAY_WINDOW_S``): 200 with
   the first signal's id, nothing placed;
9. actionability (known bot that takes signals and is running, a symbol it trades, a size not
   below the exchange minimum): 422, recorded once as a rejected Signal; a repeat of the same
   rejected alert adds to that record's count instead of a new row;
10. stored as ``accepted`` under a unique (bot, replay key) constraint, so concurrent duplicate
    deliveries on any number of web processes store one signal; the worker task is queued once
    the row commits.

The accepted path is one INSERT and no SELECT (docs/webhook.md, "Speed"): the bot and the
instrument come from a per-process cache (``selectors``, 1 s), and a repeat of an ``alert_id``
is found by the unique constraint itself. Step 8 still comes before step 9: only an actionable
alert is inserted straight away (a conflict is the repeat, answered 200), and an unactionable
one is looked up as a repeat before it is refused.

What is stored of a body is bounded (``domain.payload.bounded_payload``, 8 KiB).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.http import HttpRequest

from apps.bots.models import Bot
from apps.exchange.domain.filters import Rounding, snap_to_step
from apps.exchange.models import Instrument
from apps.market.models import Kline
from apps.trading.models import Signal
from apps.webhook.dispatch import signal_hand_over
from apps.webhook.domain.payload import BodyError, bounded_payload, parse_alert, rejection_key
from apps.webhook.domain.security import (
    SECRET_FIELDS,
    ip_allowed,
    parse_networks,
    replay_keys,
    secret_matches,
    secret_matches_hash,
    signature_valid,
)
from apps.webhook.selectors import (
    webhook_bot_get,
    webhook_instrument_get,
    webhook_lookups_clear,
)

FUTURE_TOLERANCE_S = 10  # clock skew allowed between TradingView and us
REPEATS_KEY = "_repeats"  # on a rejected signal: how often the same alert came back, and when


class WebhookRefused(Exception):
    """The request is refused: HTTP status, one-line message, error code, extra fields."""

    def __init__(self, status: int, message: str, code: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.extra = status, message, code, extra


class StaleLookup(Exception):
    """The cached bot no longer exists (the INSERT's foreign key failed): look again."""


def unauthorized() -> WebhookRefused:
    return WebhookRefused(401, "Not authenticated.", "not_authenticated")


def client_ip(request: HttpRequest) -> str:
    """The caller's address: the peer, or the entry ``WEBHOOK_TRUSTED_PROXIES`` hops back in
    X-Forwarded-For when the platform sits behind that many reverse proxies. Raise a 400 when
    that entry is not an IP address (``garbage``, ``1.2.3.4:443``): a trusted proxy wrote it, so
    the setup is wrong, and guessing an address would let the allowlist and throttle be fooled."""
    hops = settings.WEBHOOK_TRUSTED_PROXIES
    if hops > 0:
        chain = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        chain = [p for p in chain if p]
        if len(chain) >= hops:
            entry = chain[-hops]
            try:
                if "%" in entry:  # an IPv6 zone (fe80::1%eth0) names no host anywhere else
                    raise ValueError(entry)
                return str(ipaddress.ip_address(entry))
            except ValueError:
                raise WebhookRefused(
                    400,
                    f"X-Forwarded-For entry {entry[:64]!r} is not an IP address",
                    "bad_forwarded_for",
                ) from None
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def parse_body(raw: bytes) -> dict[str, Any]:
    """The JSON object of the body (TradingView sends it as text/plain or application/json);
    a 400 saying what is wrong otherwise."""
    try:
        return parse_alert(raw)
    except BodyError as exc:
        raise WebhookRefused(400, str(exc), "parse_error") from None


def authenticate_source(*, request: HttpRequest, raw: bytes, source: str) -> None:
    """The checks that need no parsing: the address allowlist and the HMAC signature of the raw
    bytes. Raise the one 401."""
    networks = parse_networks(settings.WEBHOOK_ALLOWED_IPS)
    if not ip_allowed(source, networks):
        raise unauthorized()
    if settings.WEBHOOK_HMAC_KEY and not signature_valid(
        raw, request.headers.get("X-Signature", ""), settings.WEBHOOK_HMAC_KEY
    ):
        raise unauthorized()


def authenticate_passphrase(payload: dict[str, Any]) -> Bot | None:
    """Return the bot the payload names (None if unknown) once its passphrase is right; raise
    the one 401 otherwise."""
    passphrase = payload.get("passphrase")
    name = payload.get("bot")
    known = isinstance(name, str) and 0 < len(name) <= Bot._meta.get_field("name").max_length
    bot = webhook_bot_get(name=name) if known and isinstance(name, str) else None
    if not isinstance(passphrase, str) or not passphrase:
        raise unauthorized()
    if _passphrase_ok(passphrase, bot):
        return bot
    if known and isinstance(name, str):  # a cached bot only says yes: look again before no
        bot = webhook_bot_get(name=name, fresh=True)
        if _passphrase_ok(passphrase, bot):
            return bot
    raise unauthorized()


def _passphrase_ok(passphrase: str, bot: Bot | None) -> bool:
    # Both checks always run: the time taken does not tell which secret exists.
    shared = secret_matches(passphrase, settings.WEBHOOK_SECRET)
    own = secret_matches_hash(passphrase, bot.webhook_secret_hash if bot else "")
    return shared or own


@dataclass(frozen=True, slots=True)
class Receipt:
    signal: Signal
    duplicate: bool


def _max_age(bot: Bot | None) -> int:
    if bot is not None and bot.strategy.kind == "signal":
        return int(
            bot.strategy.parameters.get("max_signal_age_s", settings.WEBHOOK_MAX_SIGNAL_AGE_S)
        )
    return settings.WEBHOOK_MAX_SIGNAL_AGE_S


def _stored_payload(payload: dict[str, Any], data: dict[str, Any], size: int) -> dict[str, Any]:
    """The body as received, secrets removed, with the validated fields as strings, bounded
    (``bounded_payload``: 8 KiB, a ``_truncated`` marker when extra fields were left out)."""
    known: dict[str, Any] = {}
    for key, value in data.items():
        if key in SECRET_FIELDS or value is None:
            continue
        known[key] = value.isoformat() if isinstance(value, datetime) else str(value)
    reserved = SECRET_FIELDS | {REPEATS_KEY}
    extra = {k: v for k, v in payload.items() if k not in reserved and k not in known}
    return bounded_payload(known, extra, received_bytes=size)


def _unactionable(bot: Bot | None, data: dict[str, Any], *, fresh: bool = False) -> str:
    """Why this valid signal cannot be acted on ('' when it can); ``fresh``: the instrument
    read now, not from the cache."""
    if bot is None:
        return f"unknown bot {data['bot']!r}"
    if bot.strategy.kind != "signal":
        return f"bot {bot.name} runs {bot.strategy.kind}, not the signal strategy"
    if not bot.enabled or bot.state != Bot.State.RUNNING:
        state = "disabled" if not bot.enabled else bot.state
        return f"bot {bot.name} is {state}" + (f": {bot.state_reason}" if bot.state_reason else "")
    symbol = data["symbol"]
    instrument = webhook_instrument_get(symbol=symbol, fresh=fresh)
    if instrument is None:
        return f"unknown symbol {symbol}"
    if symbol not in bot.symbols:
        return f"bot {bot.name} does not trade {symbol} (it trades {', '.join(bot.symbols)})"
    return _below_minimum(instrument, data)


def _below_minimum(instrument: Instrument, data: dict[str, Any]) -> str:
    if data["action"] == "close":
        return ""
    quantity = data.get("quantity")
    if quantity is not None:
        price = data.get("price") or (  # read only when a quantity needs a notional
            Kline.objects.filter(symbol=instrument.symbol)
            .order_by("-open_time")
            .values_list("close", flat=True)
            .first()
        )
        snapped = snap_to_step(quantity, instrument.step_size, Rounding.DOWN)
        if snapped < instrument.min_qty:
            return (
                f"quantity {quantity} is below the minimum {instrument.min_qty} "
                f"{instrument.base_asset} (step {instrument.step_size})"
            )
        if price and snapped * price < instrument.min_notional:
            return (
                f"quantity {quantity} is worth about {snapped * price:.2f} USDT, below the "
                f"minimum order of {instrument.min_notional} USDT"
            )
    quote = data.get("quote_amount")
    if quote is not None and quote < instrument.min_notional:
        return f"quote_amount {quote} is below the minimum order of {instrument.min_notional} USDT"
    return ""


def _stored_ip(source_ip: str) -> str | None:
    try:
        return str(ipaddress.ip_address(source_ip.partition("%")[0]))
    except ValueError:
        return None


def signal_receive(
    *,
    bot: Bot | None,
    payload: dict[str, Any],
    data: dict[str, Any],
    source_ip: str,
    now: datetime,
    size: int = 0,
) -> Receipt:
    """Store an authenticated, validated signal once and queue it; raise WebhookRefused (422)
    for a stale or unactionable one. A repeat returns the first signal (``duplicate``).
    ``size`` is the body's length in bytes (recorded when the stored copy is truncated)."""
    age = (now - data["time"]).total_seconds()
    limit = _max_age(bot)
    if age > limit and bot is not None:  # the cached bot only says yes: look again before no
        bot = _fresh(bot)
        limit = _max_age(bot)
    if age > limit:
        raise WebhookRefused(
            422, f"signal is {age:.0f} s old; signals older than {limit} s are refused", "stale"
        )
    if age < -FUTURE_TOLERANCE_S:
        raise WebhookRefused(422, f"signal time is {-age:.0f} s in the future", "stale")
    key, repeats = replay_keys(
        payload,
        received_ms=int(now.timestamp() * 1000),
        window_s=settings.WEBHOOK_REPLAY_WINDOW_S,
    )
    fields = {
        "bot": bot,
        "source": Signal.Source.WEBHOOK,
        "symbol": data["symbol"],
        "action": data["action"],
        "alert_id": data.get("alert_id", ""),
        "payload": _stored_payload(payload, data, size),
        "signal_time": data["time"],
        "source_ip": _stored_ip(source_ip),
    }
    problem = _unactionable(bot, data)
    if problem and bot is not None:  # the same: refuse only on what the database says now
        bot = _fresh(bot)
        problem = _unactionable(bot, data, fresh=True)
    if bot is not None:
        # The key itself is guarded by the unique constraint (the INSERT below); look up what
        # it cannot see: the previous time bucket of a body key, or, before refusing an
        # unactionable alert, whether it repeats an earlier one (a repeat answers 200 first).
        earlier = repeats if problem else tuple(k for k in repeats if k != key)
        first = _first_signal(bot, earlier)
        if first is not None:
            return Receipt(first, duplicate=True)
    if problem:
        rejected = None
        if bot is not None:  # kept for the record; a later delivery may still be accepted
            rejected = signal_reject(fields=fields, problem=problem, payload=payload, now=now)
        extra: dict[str, Any] = {"signal_id": rejected.pk if rejected else None}
        if rejected is not None and REPEATS_KEY in rejected.payload:
            extra["repeats"] = rejected.payload[REPEATS_KEY]["count"]
        raise WebhookRefused(422, problem, "unprocessable", **extra)
    try:
        signal = _insert(fields, key)
    except IntegrityError:
        first = _first_signal(bot, (key,))
        if first is None:
            if bot is not None and not Bot.objects.filter(pk=bot.pk).exists():
                webhook_lookups_clear()
                raise StaleLookup(bot.pk) from None
            raise
        return Receipt(first, duplicate=True)
    return Receipt(signal, duplicate=False)


def _fresh(bot: Bot) -> Bot | None:
    return webhook_bot_get(name=bot.name, fresh=True)


def _first_signal(bot: Bot | None, keys: tuple[str, ...]) -> Signal | None:
    if bot is None or not keys:
        return None
    return Signal.objects.filter(bot=bot, dedup_key__in=keys).order_by("pk").first()


def _insert(fields: dict[str, Any], key: str) -> Signal:
    """One INSERT of the accepted signal and its hand-over to a worker once it commits. Outside
    a transaction the INSERT commits by itself (no BEGIN/COMMIT round trips) and the hand-over
    runs at once; inside one (a caller's, or a test's) it gets a savepoint, so a conflict
    leaves that transaction usable."""

    def create() -> Signal:
        signal = Signal.objects.create(**fields, outcome=Signal.Outcome.ACCEPTED, dedup_key=key)
        transaction.on_commit(lambda: _dispatch(signal.pk), robust=True)
        return signal

    if connection.in_atomic_block:
        with transaction.atomic():
            return create()
    return create()


def signal_reject(
    *, fields: dict[str, Any], problem: str, payload: dict[str, Any], now: datetime
) -> Signal:
    """Record a rejected signal once: the first delivery is a row (outcome ``rejected``, the
    reason in ``detail``); a repeat of the same alert for the same reason (``rejection_key``)
    adds one to ``payload["_repeats"]`` (``count``: deliveries after the first, ``last_seen``)
    on that row instead of storing another."""
    key = rejection_key(payload, problem)
    bot = fields["bot"]
    for _ in range(2):  # a concurrent first delivery may win the insert: then count on it
        with transaction.atomic():
            first = (
                Signal.objects.select_for_update().filter(bot=bot, dedup_key=key).order_by("pk")
            ).first()
            if first is not None:
                seen = first.payload.get(REPEATS_KEY) or {}
                count = int(seen.get("count", 0)) + 1 if isinstance(seen, dict) else 1
                first.payload[REPEATS_KEY] = {"count": count, "last_seen": now.isoformat()}
                first.save(update_fields=["payload"])
                return first
        try:
            with transaction.atomic():
                return Signal.objects.create(
                    **fields,
                    outcome=Signal.Outcome.REJECTED,
                    detail=problem,
                    processed_at=now,
                    dedup_key=key,
                )
        except IntegrityError:
            continue
    raise RuntimeError(f"rejected signal {key} neither stored nor found")  # pragma: no cover


def _dispatch(signal_id: int) -> None:
    """Hand the stored signal to a worker (``dispatch.signal_hand_over``: the sweep's marker
    and the task message in one Redis round trip). If the broker is unreachable the signal
    stays accepted and the scheduler's sweep hands it over within seconds."""
    signal_hand_over(signal_id)
