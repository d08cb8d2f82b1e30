"""The embedded Celery worker and beat: threads in the web process over the memory transport.

Used only when no broker is configured (``CELERY_BROKER_URL`` is ``memory://``). The worker and
beat are the real Celery worker and beat (same tasks, same schedules from django-celery-beat),
only in-process: the in-memory broker and channel layer then reach every part of the platform.
With ``REDIS_URL`` set, run ``celery -A tradingplatform worker`` and ``celery -A tradingplatform
beat`` as separate processes instead.
"""

from __future__ import annotations

import logging
import threading

from celery.beat import EmbeddedService
from celery.result import _set_task_join_will_block
from celery.worker import WorkController

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_worker: WorkController | None = None
_worker_thread: threading.Thread | None = None
_beat: EmbeddedService | None = None


class _ReadyWorker(WorkController):
    def __init__(self, *args: object, **kwargs: object) -> None:
        self.ready = threading.Event()
        super().__init__(*args, **kwargs)

    def on_consumer_ready(self, consumer: object) -> None:
        self.ready.set()


def embedded_worker_running() -> bool:
    return _worker_thread is not None and _worker_thread.is_alive()


def start_embedded_worker(*, concurrency: int = 2, with_beat: bool = True) -> None:
    """Start the worker (and beat) threads once; wait until the worker consumes."""
    global _worker, _worker_thread, _beat
    from tradingplatform.celery import app

    with _lock:
        if embedded_worker_running():
            return
        if not (app.conf.broker_url or "").startswith("memory://"):
            raise RuntimeError(
                "the embedded worker runs only on the memory:// broker; with a broker server "
                "start `celery -A tradingplatform worker` instead"
            )
        ready = threading.Event()
        holder: list[_ReadyWorker] = []

        def run() -> None:
            # Built inside its own thread: Celery's Django fix-up closes the database
            # connections of the thread that creates the worker, and those are per thread.
            worker = _ReadyWorker(
                app=app,
                hostname="embedded@localhost",
                pool="threads",
                concurrency=concurrency,
                loglevel="INFO",
                without_heartbeat=True,
                without_mingle=True,
                without_gossip=True,
                ready_callback=None,
            )
            worker.ready = ready
            holder.append(worker)
            worker.start()

        thread = threading.Thread(target=run, name="celery-worker", daemon=True)
        thread.start()
        if not ready.wait(timeout=30):
            raise RuntimeError("the embedded Celery worker did not start within 30 s")
        worker = holder[0]
        _worker, _worker_thread = worker, thread
        logger.info("embedded Celery worker started (%d threads)", concurrency)
        if with_beat:
            _beat = EmbeddedService(app, thread=True, scheduler_cls=app.conf.beat_scheduler)
            _beat.start()
            logger.info("embedded Celery beat started (database scheduler)")


def stop_embedded_worker() -> None:
    global _worker, _worker_thread, _beat
    with _lock:
        if _beat is not None:
            _beat.stop()
            _beat = None
        if _worker is not None:
            _worker.stop(in_sighandler=False)
        if _worker_thread is not None:
            _worker_thread.join(timeout=10)
        _worker, _worker_thread = None, None
        # Hosting a worker marked this process as one (result.get() refuses to block in a
        # worker); with the worker gone, the process is a plain client again.
        _set_task_join_will_block(False)
