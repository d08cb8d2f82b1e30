"""The web processes' ASGI application with a fast lane for the TradingView webhook.

``tradingplatform.asgi:application`` (what every web process serves) is the platform's router
wrapped in ``WebhookFastLane``: everything goes to the router (Django's ASGI handler, Channels)
except any method on the webhook's path, which runs through Django's *synchronous* handler
(``WSGIHandler``: the same middleware, URL resolution, view and error handling) in a small
thread pool of this process.

Why: under Django's ASGI handler each request gets its own thread for sync code
(``ThreadSensitiveContext``) and every ``MiddlewareMixin`` hook is a separate hop to it (about
14 hops per request here). That cost about 9 ms of CPU per alert, twice what the view itself
costs, and a burst of 1,000 alerts made 1,000 threads contend for 10 pooled database
connections (those past the pool's 10-second timeout were answered 503). The fast lane makes
one hop per request into ``WEBHOOK_WEB_THREADS`` threads (default 4, below the database pool's
size), so a burst queues in the event loop instead and no request waits for a connection.

In that handler (``WebhookHandler``) a POST that DRF would answer in JSON (no ``Accept`` but
``*/*`` or ``application/json``, no ``format`` parameter) is resolved to ``apis.webhook_post``:
the DRF view's POST (``apis.webhook_answer``: the same checks in the same order) without DRF's
request and response wrappers, answered with DRF's JSON renderer, the API's exception handler
and the view's ``Allow``/``Vary`` headers, through the same middleware. Any other method or
``Accept`` reaches the DRF view. ``tests/webhook/test_fast_lane.py`` compares every answer
byte for byte (and every header) with the platform's ASGI application.

The request the view sees is the one Django builds for WSGI from the same bytes: method, path,
query string, headers (``X-Forwarded-For``, ``X-Signature``), peer address, body (spooled to
disk past ``FILE_UPLOAD_MAX_MEMORY_SIZE``, as Django's ASGI handler does; the 413 for a body
over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` comes from the same check). The answer is the same status,
headers and JSON body.
"""

from __future__ import annotations

import asyncio
import io
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest
from django.urls import ResolverMatch, get_resolver

WEBHOOK_PATH = "/api/webhook/tradingview/"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def wsgi_environ(scope: Scope, body: IO[bytes]) -> dict[str, Any]:
    """The WSGI environ of an ASGI HTTP request (as Django's ``ASGIRequest`` reads the scope)."""
    root = scope.get("root_path", "") or ""
    path = scope["path"]
    client = scope.get("client") or ("", 0)
    server = scope.get("server") or ("unknown", "0")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"].upper(),
        "SCRIPT_NAME": root,
        "PATH_INFO": (path.removeprefix(root) if root else path).encode().decode("iso-8859-1"),
        "QUERY_STRING": (scope.get("query_string") or b"").decode("iso-8859-1"),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "REMOTE_ADDR": str(client[0]),
        "REMOTE_HOST": str(client[0]),
        "REMOTE_PORT": str(client[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin1").upper().replace("-", "_")
        value = raw_value.decode("latin1")
        key = name if name in ("CONTENT_LENGTH", "CONTENT_TYPE") else f"HTTP_{name}"
        if key in environ:  # repeated headers, joined as Django's ASGI handler joins them
            value = environ[key] + ("; " if key == "HTTP_COOKIE" else ",") + value
        environ[key] = value
    return environ


JSON_ACCEPTS = frozenset({"", "*/*", "application/json"})


class WebhookHandler(WSGIHandler):
    """Django's synchronous handler (the same middleware, error handling, request signals and
    logging), with a POST on the webhook's path resolved to ``apis.webhook_post`` (the DRF
    view's POST without DRF's request and response wrappers) whenever DRF would answer it in
    JSON: no ``Accept`` other than ``*/*`` or ``application/json``, no ``format`` parameter.
    Every other request on the path resolves as usual (to the DRF view)."""

    def __init__(self) -> None:
        super().__init__()
        self._matches: dict[int, ResolverMatch] = {}

    def resolve_request(self, request: HttpRequest) -> ResolverMatch:
        if not (
            request.method == "POST"
            and request.path_info == WEBHOOK_PATH
            and request.META.get("HTTP_ACCEPT", "").strip() in JSON_ACCEPTS
            and "format" not in request.GET
            and not hasattr(request, "urlconf")
        ):
            return super().resolve_request(request)
        resolver = get_resolver()
        match = self._matches.get(id(resolver))
        if match is None:
            from apps.webhook.apis import TradingViewWebhookApi, webhook_post

            found = resolver.resolve(WEBHOOK_PATH)
            if getattr(found.func, "view_class", None) is not TradingViewWebhookApi:
                return super().resolve_request(request)
            match = self._matches[id(resolver)] = ResolverMatch(
                webhook_post,
                found.args,
                found.kwargs,
                url_name=found.url_name,
                app_names=found.app_names,
                namespaces=found.namespaces,
                route=found.route,
                captured_kwargs=found.captured_kwargs,
                extra_kwargs=found.extra_kwargs,
            )
        request.resolver_match = match
        return match


class WebhookFastLane:
    """ASGI middleware: the webhook's path through the sync handler in a bounded thread pool,
    everything else (and websockets) to ``app``."""

    def __init__(self, app: Callable[..., Awaitable[None]], *, threads: int) -> None:
        self.app = app
        self.handler = WebhookHandler()
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="webhook")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != WEBHOOK_PATH:
            await self.app(scope, receive, send)
            return
        body = await self._read_body(receive)
        if body is None:  # the client went away before sending its body
            return
        loop = asyncio.get_running_loop()
        try:
            status, headers, content = await loop.run_in_executor(
                self.executor, self._handle, wsgi_environ(scope, body)
            )
        finally:
            body.close()
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    @staticmethod
    async def _read_body(receive: Receive) -> IO[bytes] | None:
        """The body in memory (an alert is a few hundred bytes), or spooled to a temporary file
        past ``FILE_UPLOAD_MAX_MEMORY_SIZE`` as Django's ASGI handler does."""
        limit = settings.FILE_UPLOAD_MAX_MEMORY_SIZE
        body: IO[bytes] = io.BytesIO()
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                body.close()
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit and isinstance(body, io.BytesIO):
                spooled = tempfile.SpooledTemporaryFile(  # noqa: SIM115 (closed by the caller)
                    max_size=limit, mode="w+b"
                )
                spooled.write(body.getvalue())
                body.close()
                body = spooled  # type: ignore[assignment]
            body.write(chunk)
            if not message.get("more_body", False):
                break
        body.seek(0)
        return body

    def _handle(self, environ: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            started[:] = [status, headers]
            return lambda data: None

        result: Iterable[bytes] = self.handler(environ, start_response)
        try:
            content = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()  # request_finished: the database connection goes back to the pool
        status, headers = started
        return (
            int(status.split(" ", 1)[0]),
            [(k.encode("latin1"), v.encode("latin1")) for k, v in headers],
            content,
        )
