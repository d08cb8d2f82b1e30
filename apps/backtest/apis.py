"""Backtest API: start a backtest on a worker, read its result."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.backtest.models import BacktestRun
from apps.backtest.services import BacktestError, data_file_resolve
from apps.bots import access
from apps.core.api_errors import ErrorSerializer
from apps.exchange.domain.fees import DEFAULT_FEES
from apps.exchange.domain.types import datetime_to_ms
from apps.strategies.domain.params import ParameterError, validate_parameters
from apps.strategies.domain.registry import STRATEGIES

# Candle-driven strategies (the `signal` strategy acts on webhook signals, not candles).
BACKTEST_STRATEGIES = sorted(kind for kind in STRATEGIES if kind != "signal")


class BacktestStartSerializer(serializers.Serializer):
    strategy = serializers.ChoiceField(choices=BACKTEST_STRATEGIES, default="ema_cross")
    params = serializers.DictField(required=False, default=dict)
    data = serializers.ListField(
        child=serializers.CharField(max_length=200),
        min_length=1,
        help_text='Files under the data directory, e.g. "futures/BTCUSDT-1h.csv.gz".',
    )
    symbols = serializers.ListField(child=serializers.CharField(max_length=32), required=False)
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)
    fee = serializers.DecimalField(
        max_digits=8,
        decimal_places=6,
        default=DEFAULT_FEES.taker,
        help_text="Taker fee (fraction); default: the platform's fee schedule.",
    )
    stake = serializers.DecimalField(max_digits=20, decimal_places=8, default="1000")
    cash = serializers.DecimalField(max_digits=20, decimal_places=8, default="10000")
    slippage = serializers.ChoiceField(
        choices=["book", "none"],
        default="book",
        help_text="book: market fills walk the simulated exchange's depth; none: at the price.",
    )
    leverage = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=1, max_value=125, default="1"
    )
    maintenance_margin = serializers.DecimalField(
        max_digits=6, decimal_places=5, min_value=0, max_value=Decimal("0.5"), default="0.004"
    )
    maker_fee = serializers.DecimalField(
        max_digits=8,
        decimal_places=6,
        min_value=0,
        default=DEFAULT_FEES.maker,
        allow_null=True,
        help_text="Take-profit (maker) fee; default: the platform's fee schedule; null: the fee.",
    )
    intrabar = serializers.ChoiceField(
        choices=["stop_first", "path"],
        default="stop_first",
        help_text="Which of stop and take-profit comes first in a candle touching both.",
    )

    def validate(self, attrs: dict) -> dict:
        try:
            attrs["params"] = validate_parameters(attrs["strategy"], attrs.get("params"))
        except ParameterError as exc:
            raise serializers.ValidationError({"params": str(exc)}) from exc
        try:
            for name in attrs["data"]:
                data_file_resolve(name)
        except BacktestError as exc:
            raise serializers.ValidationError({"data": str(exc)}) from exc
        return attrs


class BacktestRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = BacktestRun
        fields = [
            "id",
            "strategy",
            "parameters",
            "data_files",
            "symbols",
            "start_ms",
            "end_ms",
            "fee",
            "stake",
            "cash",
            "execution",
            "status",
            "code_version",
            "first_open_time",
            "last_open_time",
            "trade_count",
            "total_pnl",
            "engine_seconds",
            "metrics",
            "summary",
            "error",
            "created_at",
            "finished_at",
        ]


def _ms(value: datetime | None) -> int | None:
    return datetime_to_ms(value) if value is not None else None


def backtest_start(v: dict[str, Any], *, user: Any, via: str = "API") -> BacktestRun:
    """A queued run from a valid ``BacktestStartSerializer``'s data, its task sent after
    commit (the API's POST and the cockpit's research form); the caller checks
    ``backtest.start_backtest``, the run and the admin log name the user."""
    from apps.backtest.tasks import backtest_run

    with transaction.atomic():
        run = BacktestRun.objects.create(
            strategy=v["strategy"],
            parameters=v["params"],
            data_files=v["data"],
            symbols=[s.upper() for s in v.get("symbols", [])],
            start_ms=_ms(v.get("start")),
            end_ms=_ms(v.get("end")),
            fee=v["fee"],
            stake=v["stake"],
            cash=v["cash"],
            execution={
                "slippage": v["slippage"],
                "leverage": str(v["leverage"]),
                "maintenance_margin": str(v["maintenance_margin"]),
                "maker_fee": None if v.get("maker_fee") is None else str(v["maker_fee"]),
                "intrabar": v["intrabar"],
            },
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        access.action_record(user=user, obj=run, message=f"started ({via})")
        transaction.on_commit(lambda: backtest_run.delay(run.pk))
    return run


class BacktestStartApi(APIView):
    permission_classes = [access.ActionPermission]
    action_permissions = {"POST": access.START_BACKTEST}

    @extend_schema(
        request=BacktestStartSerializer,
        responses={202: BacktestRunSerializer, 400: ErrorSerializer, 403: ErrorSerializer},
        summary="Start a backtest on a worker",
    )
    def post(self, request: Request) -> Response:
        data = BacktestStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        run = backtest_start(v, user=request.user)
        return Response(BacktestRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class BacktestDetailApi(APIView):
    @extend_schema(responses={200: BacktestRunSerializer}, summary="Read a backtest's result")
    def get(self, request: Request, run_id: int) -> Response:
        return Response(BacktestRunSerializer(get_object_or_404(BacktestRun, pk=run_id)).data)
