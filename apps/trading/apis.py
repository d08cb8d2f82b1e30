"""Trading API: the kill switch."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api_errors import ErrorSerializer
from apps.trading.engine import killswitch_engage


class KillSwitchApi(APIView):
    """Emergency close: cancel all orders, close all positions reduce-only, halt the bots."""

    class KillSwitchInputSerializer(serializers.Serializer):
        bots = serializers.ListField(
            child=serializers.CharField(max_length=64),
            required=False,
            default=list,
            help_text="Bot names (or all: true for every bot).",
        )
        all = serializers.BooleanField(
            required=False, default=False, help_text="Every bot (instead of naming them)."
        )
        reason = serializers.CharField(max_length=200)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if bool(attrs["bots"]) == attrs["all"]:
                raise serializers.ValidationError(
                    {"bots": "name the bots, or set all: true for every bot (not both)"}
                )
            return attrs

    class KillSwitchOutputSerializer(serializers.Serializer):
        bot = serializers.CharField()
        orders_canceled = serializers.IntegerField()
        positions_closed = serializers.IntegerField()
        open_orders_left = serializers.IntegerField()
        open_positions_left = serializers.IntegerField()
        notes = serializers.ListField(child=serializers.CharField())
        error = serializers.CharField()

    @extend_schema(
        request=KillSwitchInputSerializer,
        responses={
            200: KillSwitchOutputSerializer(many=True),
            400: ErrorSerializer,
        },
        summary="Kill switch (emergency close)",
    )
    def post(self, request: Request) -> Response:
        from apps.market.clock import market_now

        data = self.KillSwitchInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            reports = killswitch_engage(
                reason=f"{data.validated_data['reason']} (API, {request.user})",
                now=market_now(),
                bot_names=None if data.validated_data["all"] else data.validated_data["bots"],
            )
        except ValueError as exc:
            return Response(
                {"message": str(exc), "code": "invalid", "extra": {}},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(self.KillSwitchOutputSerializer(reports, many=True).data)
