"""The platform's own endpoints (ping through a worker)."""

from __future__ import annotations

from celery.result import allow_join_result
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api_errors import ErrorSerializer


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
