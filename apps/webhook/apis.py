"""POST /api/webhook/tradingview/: TradingView alerts into the bots' risk gate, exactly once."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api_errors import ErrorSerializer
from apps.webhook.serializers import TradingViewSignalSerializer, WebhookAcceptedSerializer
from apps.webhook.services import (
    WebhookRefused,
    authenticate,
    client_ip,
    parse_body,
    signal_receive,
)
from apps.webhook.throttling import WebhookSourceThrottle

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
    throttle_classes = [WebhookSourceThrottle]
    parser_classes = [RawBodyParser, RawTextBodyParser]

    def get_authenticate_header(self, request: Request) -> str:
        return 'Passphrase realm="webhook"'

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
            400: OpenApiResponse(ErrorSerializer, "Malformed body; field errors in extra."),
            401: OpenApiResponse(ErrorSerializer, "Not authenticated (no detail given)."),
            422: OpenApiResponse(ErrorSerializer, "Valid, but stale or cannot be acted on."),
            429: OpenApiResponse(ErrorSerializer, "Too many requests from this address."),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        now = timezone.now()
        raw = request.body
        try:
            payload = parse_body(raw)
            bot = authenticate(request=request, raw=raw, payload=payload)
            form = TradingViewSignalSerializer(data=payload)
            if not form.is_valid():
                raise exceptions.ValidationError(form.errors)
            receipt = signal_receive(
                bot=bot,
                payload=payload,
                data=dict(form.validated_data),
                source_ip=client_ip(request),
                now=now,
            )
        except WebhookRefused as exc:
            headers = {"WWW-Authenticate": self.get_authenticate_header(request)}
            return Response(
                {"message": exc.message, "code": exc.code, "extra": exc.extra},
                status=exc.status,
                headers=headers if exc.status == 401 else None,
            )
        body = {
            "signal_id": receipt.signal.pk,
            "status": receipt.signal.outcome,
            "duplicate": receipt.duplicate,
        }
        code = status.HTTP_200_OK if receipt.duplicate else status.HTTP_202_ACCEPTED
        return Response(body, status=code)
