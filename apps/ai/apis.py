"""AI API: start a training on a worker, read a model's state (staff only)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.ai.models import ModelArtifact
from apps.ai.training import TrainingError, TrainRequest, model_request
from apps.bots import access
from apps.core.api_errors import ErrorSerializer


class ModelSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelArtifact
        fields = [
            "id",
            "name",
            "kind",
            "status",
            "progress",
            "symbols",
            "interval",
            "data_files",
            "train_start",
            "train_end",
            "seed",
            "timesteps",
            "metrics",
            "sha256",
            "error",
            "train_seconds",
            "created_at",
        ]


class ModelTrainApi(APIView):
    """Train a model on a worker; the answer (202) carries its id, the model's page its
    progress (pushed to the dashboard too) and, once done, its figures. Needs
    ``ai.train_model``."""

    permission_classes = [access.ActionPermission]
    action_permissions = {"POST": access.TRAIN_MODEL}

    class InputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=ModelArtifact.Kind.values)
        data = serializers.ListField(child=serializers.CharField(), required=False, default=list)
        symbols = serializers.ListField(
            child=serializers.CharField(max_length=32), required=False, default=list
        )
        interval = serializers.CharField(required=False, default="")
        start = serializers.DateTimeField(required=False, allow_null=True, default=None)
        end = serializers.DateTimeField(required=False, allow_null=True, default=None)
        oos_end = serializers.DateTimeField(required=False, allow_null=True, default=None)
        timesteps = serializers.IntegerField(min_value=1, max_value=10_000_000, default=50_000)
        seed = serializers.IntegerField(default=0)
        name = serializers.CharField(max_length=100, required=False, default="")
        members = serializers.ListField(
            child=serializers.IntegerField(), required=False, default=list
        )
        params = serializers.DictField(required=False, default=dict)

    @extend_schema(
        request=InputSerializer,
        responses={202: ModelSerializer, 400: ErrorSerializer, 403: ErrorSerializer},
        summary="Train an AI model on a worker",
    )
    def post(self, request: Request) -> Response:
        from apps.ai.tasks import train_model

        form = self.InputSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        d: dict[str, Any] = form.validated_data
        try:
            artifact = model_request(
                TrainRequest(
                    kind=d["kind"],
                    data_files=tuple(d["data"]),
                    symbols=tuple(s.upper() for s in d["symbols"]),
                    interval=d["interval"],
                    start=d["start"],
                    end=d["end"],
                    oos_end=d["oos_end"],
                    timesteps=d["timesteps"],
                    seed=d["seed"],
                    name=d["name"],
                    members=tuple(d["members"]),
                    hyperparameters=d["params"],
                )
            )
        except TrainingError as exc:
            return Response(
                {"message": str(exc), "code": "invalid", "extra": {}},
                status=status.HTTP_400_BAD_REQUEST,
            )
        access.action_record(user=request.user, obj=artifact, message="training requested (API)")
        train_model.delay(artifact.pk)
        return Response(ModelSerializer(artifact).data, status=status.HTTP_202_ACCEPTED)


class ModelDetailApi(APIView):
    @extend_schema(responses={200: ModelSerializer, 404: ErrorSerializer}, summary="A model")
    def get(self, request: Request, model_id: int) -> Response:
        artifact = ModelArtifact.objects.filter(pk=model_id).first()
        if artifact is None:
            return Response(
                {"message": f"no model {model_id}", "code": "not_found", "extra": {}},
                status=status.HTTP_404_NOT_FOUND,
            )
        return Response(ModelSerializer(artifact).data)
