"""Experiments API: list, report, start, stop, promote; compare two backtest runs.

Reads need a staff user; start / stop need ``experiments.run_experiment``, promote needs
``experiments.promote_variant`` (``apps.bots.access.ActionPermission``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.backtest.models import BacktestRun
from apps.bots import access
from apps.bots.models import Bot
from apps.core.api_errors import ErrorSerializer
from apps.experiments.models import Experiment
from apps.experiments.selectors import ReportError, experiment_report, report_winner
from apps.experiments.services import (
    ExperimentError,
    backtest_comparison_create,
    experiment_start,
    experiment_stop,
    variant_promote,
)
from apps.market.clock import market_now

RUN = "experiments.run_experiment"
PROMOTE = "experiments.promote_variant"
ID_MAX = 2**63 - 1  # the ids are bigint
SEED_MAX = 2**31 - 1  # the seed column is a positive integer


def _error(message: str, code: str = "invalid", http: int = 400) -> Response:
    return Response({"message": message, "code": code, "extra": {}}, status=http)


class ExperimentOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    status = serializers.CharField()
    base_bot = serializers.CharField()
    capital = serializers.DecimalField(max_digits=20, decimal_places=8)
    started_at = serializers.DateTimeField(allow_null=True)
    stopped_at = serializers.DateTimeField(allow_null=True)
    variants = serializers.SerializerMethodField()

    def get_variants(self, obj: Experiment) -> list[dict[str, Any]]:
        return [
            {"label": v.label, "bot": v.bot.name if v.bot else None}
            for v in obj.variants.select_related("bot")
        ]


class ExperimentListApi(APIView):
    permission_classes = [access.ActionPermission]

    @extend_schema(responses={200: ExperimentOutputSerializer(many=True)}, summary="Experiments")
    def get(self, request: Request) -> Response:
        experiments = Experiment.objects.select_related("base_bot")
        return Response(ExperimentOutputSerializer(experiments, many=True).data)


class ExperimentReportApi(APIView):
    """The A/B report: figures per variant, each variant against the control, the verdict."""

    permission_classes = [access.ActionPermission]

    @extend_schema(responses={200: dict, 400: ErrorSerializer}, summary="Experiment report")
    def get(self, request: Request, name: str) -> Response:
        experiment = get_object_or_404(Experiment, name=name)
        try:
            report = experiment_report(experiment=experiment, now=market_now())
        except ReportError as exc:
            return _error(str(exc))
        return Response({**report.as_dict(), "winner": report_winner(report)})


class ExperimentStartApi(APIView):
    permission_classes = [access.ActionPermission]
    action_permissions = {"POST": RUN}

    @extend_schema(
        request=None,
        responses={200: ExperimentOutputSerializer, 400: ErrorSerializer, 403: ErrorSerializer},
        summary="Start an experiment (every variant at once)",
    )
    def post(self, request: Request, name: str) -> Response:
        experiment = get_object_or_404(Experiment, name=name)
        try:
            experiment = experiment_start(
                experiment=experiment, actor=str(request.user), now=market_now()
            )
        except ExperimentError as exc:
            return _error(str(exc))
        access.action_record(user=request.user, obj=experiment, message="started (API)")
        return Response(ExperimentOutputSerializer(experiment).data)


class ExperimentStopApi(APIView):
    permission_classes = [access.ActionPermission]
    action_permissions = {"POST": RUN}

    @extend_schema(
        request=None,
        responses={200: ExperimentOutputSerializer, 400: ErrorSerializer, 403: ErrorSerializer},
        summary="Stop an experiment (pause every variant)",
    )
    def post(self, request: Request, name: str) -> Response:
        experiment = get_object_or_404(Experiment, name=name)
        try:
            experiment = experiment_stop(
                experiment=experiment, actor=str(request.user), now=market_now()
            )
        except ExperimentError as exc:
            return _error(str(exc))
        access.action_record(user=request.user, obj=experiment, message="stopped (API)")
        return Response(ExperimentOutputSerializer(experiment).data)


class ExperimentPromoteApi(APIView):
    """Copy a variant's settings (strategy, leverage, risk, AI) to a live bot."""

    permission_classes = [access.ActionPermission]
    action_permissions = {"POST": PROMOTE}

    class PromoteInputSerializer(serializers.Serializer):
        variant = serializers.CharField(max_length=8, help_text="The variant's label.")
        bot = serializers.CharField(max_length=64, help_text="The live bot's name.")

    class PromoteOutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        bot = serializers.CharField()
        variant = serializers.CharField()
        strategy = serializers.CharField()
        decided_by = serializers.CharField()
        before = serializers.DictField()
        after = serializers.DictField()

    @extend_schema(
        request=PromoteInputSerializer,
        responses={200: PromoteOutputSerializer, 400: ErrorSerializer, 403: ErrorSerializer},
        summary="Promote a variant to a live bot",
    )
    def post(self, request: Request, name: str) -> Response:
        experiment = get_object_or_404(Experiment, name=name)
        data = self.PromoteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        variant = experiment.variants.filter(label=data.validated_data["variant"]).first()
        bot = Bot.objects.filter(name=data.validated_data["bot"]).first()
        if variant is None or bot is None:
            return _error("unknown variant or bot", code="not_found", http=404)
        try:
            verdicts = "; ".join(
                c.verdict
                for c in experiment_report(experiment=experiment, now=market_now()).comparisons
            )
            promotion = variant_promote(
                variant=variant, bot=bot, actor=str(request.user), verdict=verdicts
            )
        except (ExperimentError, ReportError) as exc:
            return _error(str(exc))
        access.action_record(
            user=request.user,
            obj=experiment,
            message=f"promoted variant {variant.label} to bot {bot.name} (API)",
        )
        return Response(
            self.PromoteOutputSerializer(
                {
                    "id": promotion.pk,
                    "bot": bot.name,
                    "variant": variant.label,
                    "strategy": promotion.strategy.name,
                    "decided_by": promotion.decided_by,
                    "before": promotion.before,
                    "after": promotion.after,
                }
            ).data
        )


class BacktestCompareApi(APIView):
    """Compare two finished backtest runs on the days both cover (stored as a comparison)."""

    permission_classes = [access.ActionPermission]

    class CompareInputSerializer(serializers.Serializer):
        run_a = serializers.IntegerField(min_value=1, max_value=ID_MAX)
        run_b = serializers.IntegerField(min_value=1, max_value=ID_MAX)
        confidence = serializers.DecimalField(
            max_digits=4,
            decimal_places=3,
            min_value=Decimal("0.8"),
            max_value=Decimal("0.999"),
            default=Decimal("0.95"),
        )
        resamples = serializers.IntegerField(min_value=100, max_value=20000, default=2000)
        seed = serializers.IntegerField(min_value=0, max_value=SEED_MAX, default=0)

    @extend_schema(
        request=CompareInputSerializer,
        responses={200: dict, 400: ErrorSerializer},
        summary="Compare two backtest runs (the experiments' test)",
    )
    def post(self, request: Request) -> Response:
        data = self.CompareInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        runs = BacktestRun.objects.in_bulk([v["run_a"], v["run_b"]])
        if v["run_a"] not in runs or v["run_b"] not in runs:
            return _error("unknown backtest run", code="not_found", http=status.HTTP_404_NOT_FOUND)
        try:
            comparison = backtest_comparison_create(
                run_a=runs[v["run_a"]],
                run_b=runs[v["run_b"]],
                confidence=v["confidence"],
                resamples=v["resamples"],
                seed=v["seed"],
                user=request.user,
            )
        except ReportError as exc:
            return _error(str(exc))
        return Response({"id": comparison.pk, **comparison.result})
