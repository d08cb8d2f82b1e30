"""One error body for the whole API: ``{"message", "code", "extra"}``."""

from __future__ import annotations

from typing import Any

from celery.result import allow_join_result
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        message = "Invalid input."
        extra: dict[str, Any] = {"fields": response.data}
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
        message = str(detail) or str(exc)
        extra = {}
    code = getattr(exc, "default_code", "error")
    response.data = {"message": message, "code": code, "extra": extra}
    return response


class ErrorSerializer(serializers.Serializer):
    message = serializers.CharField()
    code = serializers.CharField()
    extra = serializers.DictField()


class PingApi(APIView):
    """Round trip through a Celery worker: enqueue ``core.ping`` and wait briefly for it."""

    class PingInputSerializer(serializers.Serializer):
        token = serializers.CharField(max_length=64, required=False, default="")

    class PingOutputSerializer(serializers.Serializer):
        task_id = serializers.CharField()
        result = serializers.DictField()

    @extend_schema(
        request=PingInputSerializer,
        responses={200: PingOutputSerializer, 504: ErrorSerializer},
        summary="Round trip through a Celery worker",
    )
    def post(self, request: Request) -> Response:
        from apps.core.tasks import ping

        data = self.PingInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = ping.delay(data.validated_data["token"])
        try:
            # The embedded default hosts the worker in this process; this thread is not one.
            with allow_join_result():
                answer = result.get(timeout=10)
        except Exception as exc:
            return Response(
                {
                    "message": f"worker did not answer: {type(exc).__name__}",
                    "code": "timeout",
                    "extra": {"task_id": result.id},
                },
                status=status.HTTP_504_GATEWAY_TIMEOUT,
            )
        return Response({"task_id": result.id, "result": answer})
