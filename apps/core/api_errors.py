"""One error body for the whole API: ``{"message", "code", "extra"}`` (every app's API
uses it; this module imports nothing of the platform)."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

logger = logging.getLogger(__name__)

DATABASE_RETRY_AFTER_S = 5


def database_unavailable_body() -> dict[str, Any]:
    """The 503 answered while the database cannot be reached (a restart, a failover, a full
    connection pool): nothing was done, the same request may be sent again."""
    return {
        "message": "the database is unavailable; nothing was done, retry shortly",
        "code": "database_unavailable",
        "extra": {"retry_after_s": DATABASE_RETRY_AFTER_S},
    }


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, OperationalError | InterfaceError):
        # One line, not a traceback: the outage is logged by whoever watches the database.
        logger.warning("database unavailable: %s", str(exc).splitlines()[0] if str(exc) else exc)
        set_rollback()
        return Response(
            database_unavailable_body(),
            status=503,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
        )
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
