"""POST /api/webhook/tradingview/: TradingView alerts into the bots' risk gate, exactly once."""

from __future__ import annotations

import math
import threading
from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.bots.models import Bot
from apps.core.api_errors import ErrorSerializer
from apps.core.api_errors import exception_handler as api_exception_handler
from apps.webhook.serializers import TradingViewSignalSerializer, WebhookAcceptedSerializer
from apps.webhook.services import (
    Receipt,
    StaleLookup,
    WebhookRefused,
    authenticate_passphrase,
    authenticate_source,
    client_ip,
    parse_body,
    signal_receive,
)
from apps.webhook.throttling import auth_failure_record, auth_failures_exceeded, signal_rate_take

WWW_AUTHENTICATE = 'Passphrase realm="webhook"'

_EXAMPLES = [
    OpenApiExample(
        "Market buy with stop and target (paste into TradingView's alert message)",
        value={
            "passphrase": "your-webhook-passphrase",
            "bot": "demo-signal",
            "symbol": "{{ticker}}",
            "action": "buy",
            "order_type": "market",
            "quote_amount": "200",
            "stop_loss": "{{plot_0}}",
            "take_profit": "{{plot_1}}",
            "alert_id": "{{ticker}}-{{timenow}}-buy",
            "time": "{{timenow}}",
        },
        request_only=True,
    ),
    OpenApiExample(
        "Limit sell, 5 % of equity",
        value={
            "passphrase": "your-webhook-passphrase",
            "bot": "demo-signal",
            "symbol": "BINANCE:ETHUSDT.P",
            "action": "sell",
            "order_type": "limit",
            "price": "{{close}}",
            "percent_equity": "5",
            "time": "{{timenow}}",
        },
        request_only=True,
    ),
    OpenApiExample(
        "Close the position",
        value={
            "passphrase": "your-webhook-passphrase",
            "bot": "demo-signal",
            "symbol": "BTCUSDT.P",
            "action": "close",
            "alert_id": "{{ticker}}-{{timenow}}-close",
            "time": "{{timenow}}",
        },
        request_only=True,
    ),
]


class RawBodyParser(BaseParser):
    """TradingView posts text/plain or application/json; the view reads the raw body itself
    (the signature covers the exact bytes), so this parser only names the content type for
    the OpenAPI schema (where the examples are shown under it)."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return None


class RawTextBodyParser(RawBodyParser):
    media_type = "text/plain"


class TradingViewWebhookApi(APIView):
    """Receive a TradingView alert. The answer does not wait for the exchange: 202 means the
    signal is stored and queued; its outcome (placed, blocked by which rule, failed with which
    exchange error) is written on the Signal in the admin and pushed to the live dashboard."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes: list[Any] = []  # the view's own two rates (apps/webhook/throttling.py)
    parser_classes = [RawBodyParser, RawTextBodyParser]

    def get_authenticate_header(self, request: Request) -> str:
        return WWW_AUTHENTICATE

    @extend_schema(
        operation_id="webhook_tradingview",
        summary="TradingView alert webhook",
        request=TradingViewSignalSerializer,
        examples=_EXAMPLES,
        parameters=[
            OpenApiParameter(
                "X-Signature",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=False,
                description="sha256=<hex HMAC-SHA256 of the raw body>; required when the "
                "platform sets WEBHOOK_HMAC_KEY (TradingView itself cannot send headers).",
            )
        ],
        responses={
            202: OpenApiResponse(WebhookAcceptedSerializer, "Stored and queued."),
            200: OpenApiResponse(
                WebhookAcceptedSerializer, "A repeat delivery: the first signal, nothing placed."
            ),
            400: OpenApiResponse(
                ErrorSerializer,
                "Malformed body (not a JSON object; a NUL, an unpaired surrogate, NaN, "
                "Infinity, a number too large or nesting too deep anywhere in it; a field "
                "error, named in extra), or an X-Forwarded-For entry that is not an address.",
            ),
            401: OpenApiResponse(ErrorSerializer, "Not authenticated (no detail given)."),
            422: OpenApiResponse(ErrorSerializer, "Valid, but stale or cannot be acted on."),
            429: OpenApiResponse(
                ErrorSerializer,
                "Too many failed authentications from this address (unauthenticated requests "
                "only), or too many alerts for this bot; Retry-After says when to retry.",
            ),
            503: OpenApiResponse(
                ErrorSerializer,
                "The database is unavailable (a restart); nothing was stored, retry after "
                "Retry-After seconds.",
            ),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        code, body, headers = webhook_answer(request)
        return Response(body, status=code, headers=headers or None)


def webhook_answer(request: HttpRequest | Request) -> tuple[int, dict[str, Any], dict[str, str]]:
    """The webhook's answer to a POST: status, JSON body and headers (``WWW-Authenticate``,
    ``Retry-After``) of an accepted, repeated or refused alert. Field errors are raised as
    DRF's ``ValidationError`` and database errors as they come (the API's exception handler
    answers them: 400, 503)."""
    now = timezone.now()
    try:
        try:
            receipt = _receive(request, now)
        except StaleLookup:  # the cached bot was deleted a moment ago: once more, fresh
            receipt = _receive(request, now)
    except WebhookRefused as exc:
        return _refused(exc)
    body = {
        "signal_id": receipt.signal.pk,
        "status": receipt.signal.outcome,
        "duplicate": receipt.duplicate,
    }
    return (status.HTTP_200_OK if receipt.duplicate else status.HTTP_202_ACCEPTED), body, {}


def _receive(request: HttpRequest | Request, now: datetime) -> Receipt:
    source = client_ip(request)
    raw = request.body
    bot, payload = _authenticated(request, raw, source)
    return signal_receive(
        bot=bot,
        payload=payload,
        data=signal_fields(payload),
        source_ip=source,
        now=now,
        size=len(raw),
    )


_forms = threading.local()


def signal_fields(payload: dict[str, Any]) -> dict[str, Any]:
    """The validated fields of the alert (``TradingViewSignalSerializer``); raise DRF's
    ``ValidationError`` with the field errors. One serializer per thread, its fields built once
    (``is_valid`` on a new serializer deep-copies all thirteen fields per alert)."""
    form = getattr(_forms, "form", None)
    if form is None:
        form = _forms.form = TradingViewSignalSerializer()
        form.fields  # noqa: B018 (built and bound once)
    try:
        return dict(form.run_validation(payload))
    except exceptions.ValidationError as exc:  # what is_valid() keeps as .errors
        raise exceptions.ValidationError(exc.detail) from None


def _authenticated(
    request: HttpRequest | Request, raw: bytes, source: str
) -> tuple[Bot | None, dict[str, Any]]:
    """The bot and the parsed body, once the caller is authenticated (allowlist and
    signature on the raw bytes, then the passphrase in the parsed body). Each failure counts
    against the source, and a source over ``WEBHOOK_AUTH_FAILURE_RATE`` is answered 429
    instead. The bot's own rate is taken after: a valid alert is never refused for another
    caller's junk."""
    try:
        authenticate_source(request=request, raw=raw, source=source)
        payload = parse_body(raw)
        bot = authenticate_passphrase(payload)
    except WebhookRefused:
        wait = auth_failures_exceeded(source)
        auth_failure_record(source)
        if wait is not None:
            raise _throttled(wait) from None
        raise
    wait = signal_rate_take(f"bot:{bot.pk}" if bot is not None else "shared-passphrase")
    if wait is not None:
        raise _throttled(wait)
    return bot, payload


def _refused(exc: WebhookRefused) -> tuple[int, dict[str, Any], dict[str, str]]:
    headers: dict[str, str] = {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    if exc.status == 429:
        headers["Retry-After"] = str(exc.extra.pop("retry_after_s"))
    return exc.status, {"message": exc.message, "code": exc.code, "extra": exc.extra}, headers


_RENDERER = JSONRenderer()


@csrf_exempt
def webhook_post(request: HttpRequest) -> HttpResponse:
    """``TradingViewWebhookApi``'s POST without DRF's request and response wrappers, for the
    web processes' fast lane (``apps.webhook.asgi``): the same ``webhook_answer``, the same
    exception handler, the same JSON bytes (DRF's renderer) and headers (``Allow``, ``Vary``).
    Only for a request DRF would answer in JSON (the fast lane checks ``Accept``)."""
    try:
        code, body, headers = webhook_answer(request)
    except Exception as exc:
        response = api_exception_handler(exc, {"request": request, "view": None})
        if response is None:
            raise  # the middleware's answer (413, 503, 500), as for the DRF view
        code, body = response.status_code, response.data
        headers = {k: v for k, v in response.items() if k.lower() != "content-type"}
    answer = HttpResponse(_RENDERER.render(body), status=code, content_type="application/json")
    for name, value in {**headers, **_view_headers()}.items():
        answer[name] = value
    return answer


def _view_headers() -> dict[str, str]:
    headers = getattr(_view_headers, "cached", None)
    if headers is None:
        headers = _view_headers.cached = dict(  # type: ignore[attr-defined]
            TradingViewWebhookApi().default_response_headers
        )
    return headers


def _throttled(wait: float) -> WebhookRefused:
    seconds = max(1, math.ceil(wait))
    return WebhookRefused(
        429,
        f"Request was throttled. Expected available in {seconds} seconds.",
        "throttled",
        retry_after_s=seconds,
    )
