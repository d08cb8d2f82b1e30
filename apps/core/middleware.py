"""API answers are always JSON: an oversized body is a 413, a database outage a 503 with
Retry-After, an unexpected error a 500, all with the one error body ``{"message", "code",
"extra"}`` (never Django's HTML debug page). Also the redaction of secrets in logged requests."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

# --- Request logging: secrets in a query string never reach a log line. ----------------------
# A passphrase sent as ``?passphrase=...`` (or a secret, token, password, key or signature) is
# replaced by ``[redacted]`` wherever a request line is logged: the access log of the web
# server (``apps.core.daphne_server``), and every record that goes through the logging handlers
# (``RedactSecretsFilter`` in settings.LOGGING: Django's request logging, daphne's runserver).
_SECRET_PARAM = re.compile(
    r"(?i)((?:^|[?&;\s\"'])[\w.\-\[\]]*(?:passphrase|secret|token|password|passwd|api_?key|"
    r"signature)[\w.\-\[\]]*=)[^&;\s\"']*"
)
REDACTED = "[redacted]"


def redact_secrets(text: str) -> str:
    """``text`` with the value of every secret-looking query parameter replaced."""
    return _SECRET_PARAM.sub(lambda m: m.group(1) + REDACTED, text)


class RedactSecretsFilter(logging.Filter):
    """A logging filter (install it on handlers) that redacts secret query parameters in the
    formatted message of every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot format is left to the handler to report
            return True
        redacted = redact_secrets(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


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
        if isinstance(exception, OperationalError | InterfaceError):  # a database restart
            from apps.core.api_errors import DATABASE_RETRY_AFTER_S, database_unavailable_body

            logger.warning("%s %s: database unavailable", request.method, request.path)
            response = JsonResponse(database_unavailable_body(), status=503)
            response["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
            return response
        logger.exception("%s %s failed", request.method, request.path)
        return _error(500, "internal error; the server log has the details", "server_error")
