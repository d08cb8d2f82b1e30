"""Receiving a TradingView signal: authenticate, refuse stale and repeated ones, check it can be
acted on, store it exactly once, and hand it to a worker.

Order of the checks (each failure ends the request and changes nothing):

1. throttle per source address (429, in the view's throttle class);
2. source address allowlist, HMAC signature (when configured), passphrase: 401, one message
   for every failure, so a caller learns nothing about which part was wrong;
3. body fields: 400 with field errors;
4. staleness (the signal's ``time`` against the bot's ``max_signal_age_s``): 422;
5. repeat delivery (same ``alert_id``, or same body within ``WEBHOOK_REPLAY_WINDOW_S``): 200 with
   the first signal's id, nothing placed;
6. actionability (known bot that takes signals and is running, a symbol it trades, a size not
   below the exchange minimum): 422, recorded as a rejected Signal;
7. stored as ``accepted`` under a unique (bot, replay key) constraint, so concurrent duplicate
   deliveries on any number of web processes store one signal; the worker task is queued once
   the row commits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest

from apps.bots.models import Bot
from apps.exchange.domain.filters import Rounding, snap_to_step
from apps.exchange.models import Instrument
from apps.market.models import Kline
from apps.trading.models import Signal
from apps.webhook.domain.security import (
    SECRET_FIELDS,
    ip_allowed,
    parse_networks,
    replay_keys,
    secret_matches,
    secret_matches_hash,
    signature_valid,
)

FUTURE_TOLERANCE_S = 10  # clock skew allowed between TradingView and us


class WebhookRefused(Exception):
    """The request is refused: HTTP status, one-line message, error code, extra fields."""

    def __init__(self, status: int, message: str, code: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.extra = status, message, code, extra


def unauthorized() -> WebhookRefused:
    return WebhookRefused(401, "Not authenticated.", "not_authenticated")


def client_ip(request: HttpRequest) -> str:
    """The caller's address: the peer, or the entry ``WEBHOOK_TRUSTED_PROXIES`` hops back in
    X-Forwarded-For when the platform sits behind that many reverse proxies."""
    hops = settings.WEBHOOK_TRUSTED_PROXIES
    if hops > 0:
        chain = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        chain = [p for p in chain if p]
        if len(chain) >= hops:
            return chain[-hops]
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def parse_body(raw: bytes) -> dict[str, Any]:
    """The JSON object of the body (TradingView sends it as text/plain or application/json)."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise WebhookRefused(
            400, "The body must be a JSON object (TradingView's alert message).", "parse_error"
        ) from None
    if not isinstance(data, dict):
        raise WebhookRefused(
            400, "The body must be a JSON object, not a list or value.", "parse_error"
        )
    return data


def authenticate(*, request: HttpRequest, raw: bytes, payload: dict[str, Any]) -> Bot | None:
    """Return the bot the payload names (None if unknown) once the caller is authenticated;
    raise the one 401 otherwise."""
    networks = parse_networks(settings.WEBHOOK_ALLOWED_IPS)
    if not ip_allowed(client_ip(request), networks):
        raise unauthorized()
    if settings.WEBHOOK_HMAC_KEY and not signature_valid(
        raw, request.headers.get("X-Signature", ""), settings.WEBHOOK_HMAC_KEY
    ):
        raise unauthorized()
    passphrase = payload.get("passphrase")
    name = payload.get("bot")
    bot = (
        Bot.objects.select_related("strategy").filter(name=name).first()
        if isinstance(name, str) and name
        else None
    )
    if not isinstance(passphrase, str) or not passphrase:
        raise unauthorized()
    # Both checks always run: the time taken does not tell which secret exists.
    shared = secret_matches(passphrase, settings.WEBHOOK_SECRET)
    own = secret_matches_hash(passphrase, bot.webhook_secret_hash if bot else "")
    if not (shared or own):
        raise unauthorized()
    return bot


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


def _stored_payload(payload: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The body as received, secrets removed, with the validated fields as strings."""
    clean = {k: v for k, v in payload.items() if k not in SECRET_FIELDS}
    for key, value in data.items():
        if key in SECRET_FIELDS or value is None:
            continue
        clean[key] = value.isoformat() if isinstance(value, datetime) else str(value)
    return clean


def _unactionable(bot: Bot | None, data: dict[str, Any]) -> str:
    """Why this valid signal cannot be acted on ('' when it can)."""
    if bot is None:
        return f"unknown bot {data['bot']!r}"
    if bot.strategy.kind != "signal":
        return f"bot {bot.name} runs {bot.strategy.kind}, not the signal strategy"
    if not bot.enabled or bot.state != Bot.State.RUNNING:
        state = "disabled" if not bot.enabled else bot.state
        return f"bot {bot.name} is {state}" + (f": {bot.state_reason}" if bot.state_reason else "")
    symbol = data["symbol"]
    instrument = Instrument.objects.filter(symbol=symbol).first()
    if instrument is None:
        return f"unknown symbol {symbol}"
    if symbol not in bot.symbols:
        return f"bot {bot.name} does not trade {symbol} (it trades {', '.join(bot.symbols)})"
    return _below_minimum(instrument, data)


def _below_minimum(instrument: Instrument, data: dict[str, Any]) -> str:
    if data["action"] == "close":
        return ""
    price = data.get("price") or (
        Kline.objects.filter(symbol=instrument.symbol)
        .order_by("-open_time")
        .values_list("close", flat=True)
        .first()
    )
    quantity = data.get("quantity")
    if quantity is not None:
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


def signal_receive(
    *,
    bot: Bot | None,
    payload: dict[str, Any],
    data: dict[str, Any],
    source_ip: str,
    now: datetime,
) -> Receipt:
    """Store an authenticated, validated signal once and queue it; raise WebhookRefused (422)
    for a stale or unactionable one. A repeat returns the first signal (``duplicate``)."""
    age = (now - data["time"]).total_seconds()
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
    if bot is not None:
        first = Signal.objects.filter(bot=bot, dedup_key__in=repeats).order_by("pk").first()
        if first is not None:
            return Receipt(first, duplicate=True)
    fields = {
        "bot": bot,
        "source": Signal.Source.WEBHOOK,
        "symbol": data["symbol"],
        "action": data["action"],
        "alert_id": data.get("alert_id", ""),
        "payload": _stored_payload(payload, data),
        "signal_time": data["time"],
        "source_ip": source_ip if source_ip != "unknown" else None,
    }
    problem = _unactionable(bot, data)
    if problem:
        rejected = None
        if bot is not None:  # kept for the record; a later delivery may still be accepted
            rejected = Signal.objects.create(
                **fields, outcome=Signal.Outcome.REJECTED, detail=problem, processed_at=now
            )
        raise WebhookRefused(
            422, problem, "unprocessable", signal_id=rejected.pk if rejected else None
        )
    try:
        with transaction.atomic():
            signal = Signal.objects.create(**fields, outcome=Signal.Outcome.ACCEPTED, dedup_key=key)
            transaction.on_commit(lambda: _dispatch(signal.pk), robust=True)
    except IntegrityError:
        first = Signal.objects.filter(bot=bot, dedup_key=key).first()
        if first is None:
            raise
        return Receipt(first, duplicate=True)
    return Receipt(signal, duplicate=False)


def _dispatch(signal_id: int) -> None:
    """Hand the stored signal to a worker. If the broker is unreachable the signal stays
    accepted and the scheduler's sweep hands it over within seconds."""
    from apps.trading.engine.sweep import signal_dispatched
    from apps.trading.tasks import signal_process

    signal_dispatched(signal_id)
    signal_process.delay(signal_id)
