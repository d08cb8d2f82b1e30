"""API answers are always JSON: an oversized body is a 413, an unexpected error a 500, both
with the one error body ``{"message", "code", "extra"}`` (never Django's HTML debug page)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"


def _error(status: int, message: str, code: str, **extra: object) -> JsonResponse:
    return JsonResponse({"message": message, "code": code, "extra": extra}, status=status)


def _too_big() -> JsonResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return _error(413, f"request body over {limit} bytes", "too_large", limit=limit)


class ApiErrorsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(API_PREFIX):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return _error(400, "Content-Length is not a number", "parse_error")
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            if limit is not None and length > limit:
                return _too_big()  # refused before the body is read
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith(API_PREFIX):
            return None
        if isinstance(exception, RequestDataTooBig):
            return _too_big()
        logger.exception("%s %s failed", request.method, request.path)
        return _error(500, "internal error; the server log has the details", "server_error")
