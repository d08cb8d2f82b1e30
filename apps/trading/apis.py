"""Trading API: the kill switch (``bots.engage_killswitch`` for named bots, or a per-bot grant
for each; ``bots.engage_killswitch_all`` for every bot)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.bots import access
from apps.bots.models import Bot
from apps.core.api_errors import ErrorSerializer
from apps.trading.engine import killswitch_engage


def _forbidden(message: str) -> Response:
    return Response(
        {"message": message, "code": "permission_denied", "extra": {}},
        status=status.HTTP_403_FORBIDDEN,
    )


class KillSwitchApi(APIView):
    """Emergency close: cancel all orders, close all positions reduce-only, halt the bots."""

    permission_classes = [access.ActionPermission]

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
            403: ErrorSerializer,
        },
        summary="Kill switch (emergency close)",
    )
    def post(self, request: Request) -> Response:
        from apps.market.clock import market_now

        user = request.user
        if not (
            access.may(user, access.KILLSWITCH_ALL) or access.may_some_bot(user, access.KILLSWITCH)
        ):
            return _forbidden("you may not fire the kill switch")
        data = self.KillSwitchInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        refused = self._refused(request, v)
        if refused:
            return _forbidden(refused)
        try:
            reports = killswitch_engage(
                reason=f"{v['reason']} (API, {request.user})",
                now=market_now(),
                bot_names=None if v["all"] else v["bots"],
            )
        except ValueError as exc:
            return Response(
                {"message": str(exc), "code": "invalid", "extra": {}},
                status=status.HTTP_400_BAD_REQUEST,
            )
        bots = Bot.objects.all() if v["all"] else Bot.objects.filter(name__in=v["bots"])
        for bot in bots:
            access.action_record(
                user=request.user, obj=bot, message=f"kill switch (API): {v['reason']}"
            )
        return Response(self.KillSwitchOutputSerializer(reports, many=True).data)

    @staticmethod
    def _refused(request: Request, v: dict[str, Any]) -> str:
        """Why the user may not fire this kill switch ("" when allowed)."""
        if v["all"]:
            if access.may(request.user, access.KILLSWITCH_ALL):
                return ""
            return "the kill switch for every bot needs bots.engage_killswitch_all"
        allowed = access.grant_names(request.user, access.KILLSWITCH)
        if allowed is None:
            return ""
        refused = sorted(set(v["bots"]) - allowed)
        return f"not allowed to fire the kill switch for {', '.join(refused)}" if refused else ""
