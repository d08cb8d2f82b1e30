"""What one scrape returns, who may read it, and the metrics server of processes without a web
server (Celery worker, beat, the market streamer).

- Single process (no ``PROMETHEUS_MULTIPROC_DIR``): this process's metrics (the embedded
  default runs web, worker, beat and the replayed market in one process, so that is all).
- Multiprocess (``PROMETHEUS_MULTIPROC_DIR`` set, shared by the processes of one host): the sum
  over every process's files in that directory, so the web's ``/metrics`` covers the workers.
- The state gauges read from the database (``collectors.StateCollector``) are added by the web's
  ``/metrics`` and by the metrics server of the one process with ``METRICS_SERVE_STATE``
  (``with_state``), so that a worker and a web server do not report them twice.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.conf import settings
from django.db import connections
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST, ThreadingWSGIServer
from prometheus_client.multiprocess import MultiProcessCollector

from apps.metrics.domain.access import MetricsAccess, Verdict, parse_networks

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_STATUS = {
    Verdict.DISABLED: (404, "Not Found"),
    Verdict.UNAUTHORIZED: (401, "Unauthorized"),
    Verdict.FORBIDDEN: (403, "Forbidden"),
}

_side_lock = threading.Lock()
_side_server: ThreadingWSGIServer | None = None


def metrics_access() -> MetricsAccess:
    """The access rule from the settings (``METRICS_TOKEN``, ``METRICS_ALLOWED_IPS``)."""
    return MetricsAccess(
        token=settings.METRICS_TOKEN, networks=parse_networks(settings.METRICS_ALLOWED_IPS)
    )


def multiprocess_dir() -> str:
    return os.environ.get(MULTIPROC_ENV, "")


class _Union:
    """Several collectors read as one (what ``generate_latest`` accepts)."""

    def __init__(self, *parts: Any) -> None:
        self.parts = parts

    def collect(self) -> Iterator[Any]:
        for part in self.parts:
            yield from part.collect()


def scrape_source(*, with_state: bool) -> _Union:
    """The collectors one scrape reads (see the module doc)."""
    parts: list[Any] = []
    if multiprocess_dir():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        parts.append(registry)
    else:
        parts.append(REGISTRY)
    if with_state:
        from apps.metrics.collectors import state_collector

        parts.append(state_collector())
    return _Union(*parts)


def scrape(*, with_state: bool) -> bytes:
    return generate_latest(scrape_source(with_state=with_state))  # type: ignore[arg-type]


# --- the metrics server of a process without a web server -----------------------------------
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def metrics_wsgi_app(
    access: MetricsAccess, *, with_state: bool = False
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        verdict = access.check(
            authorization=environ.get("HTTP_AUTHORIZATION", ""),
            remote_addr=environ.get("REMOTE_ADDR", ""),
        )
        if verdict is not Verdict.ALLOWED:
            code, reason = _STATUS[verdict]
            headers = [("Content-Type", "text/plain")]
            if verdict is Verdict.UNAUTHORIZED:
                headers.append(("WWW-Authenticate", 'Bearer realm="metrics"'))
            start_response(f"{code} {reason}", headers)
            return [f"{reason.lower()}\n".encode()]
        if environ.get("PATH_INFO", "/") not in ("/", "/metrics"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        try:
            body = scrape(with_state=with_state)
        finally:
            if with_state:  # each request is its own thread: give its connection back
                connections.close_all()
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [body]

    return app


def side_server_start(
    *, addr: str, port: int, access: MetricsAccess, with_state: bool = False
) -> ThreadingWSGIServer:
    """Serve this process's metrics on ``addr:port`` from a daemon thread; return the server."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class _Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = make_server(
        addr,
        port,
        metrics_wsgi_app(access, with_state=with_state),
        ThreadingWSGIServer,
        handler_class=_Quiet,
    )
    thread = threading.Thread(target=server.serve_forever, name="metrics-server", daemon=True)
    thread.start()
    return server


def side_server_start_from_settings() -> None:
    """Start the metrics server once per process when ``METRICS_PORT`` is set.

    A process that cannot serve (no token or allowlist configured, port taken) says so in one
    log line and goes on: metrics never stop a worker from working.
    """
    global _side_server
    port = settings.METRICS_PORT
    if not port:
        return
    with _side_lock:
        if _side_server is not None:
            return
        try:
            access = metrics_access()
        except ValueError as exc:
            logger.error("metrics server not started: %s", exc)
            return
        if not access.enabled:
            logger.error(
                "metrics server not started: METRICS_PORT=%d is set but neither METRICS_TOKEN "
                "nor METRICS_ALLOWED_IPS is (metrics are never public)",
                port,
            )
            return
        try:
            _side_server = side_server_start(
                addr=settings.METRICS_ADDR,
                port=port,
                access=access,
                with_state=settings.METRICS_SERVE_STATE,
            )
        except OSError as exc:  # e.g. a one-off `manage.py` beside the container's server
            logger.warning(
                "metrics server not started on %s:%d: %s", settings.METRICS_ADDR, port, exc
            )
            return
    logger.info("metrics served on %s:%d/metrics", settings.METRICS_ADDR, port)


__all__ = [
    "metrics_access",
    "metrics_wsgi_app",
    "scrape",
    "scrape_source",
    "side_server_start",
    "side_server_start_from_settings",
]
