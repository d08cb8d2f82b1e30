from __future__ import annotations

import logging
import os
import secrets
import signal
import sys
import threading
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from apps.bots.models import Bot

STOP_GRACE_S = 0.5


class Command(BaseCommand):
    help = (
        "Bring the platform up: migrate, collect static files, create the admin user and the "
        "demo on first start, schedule periodic tasks, start the embedded worker and beat when "
        "no broker is configured, and serve HTTP and websockets (ASGI)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-demo", action="store_true", help="Do not load the demo bots.")
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="Do not start the embedded worker and beat (run them as separate processes).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = options["verbosity"]
        if settings.DEBUG and options["host"] not in ("127.0.0.1", "localhost", "::1"):
            settings.DEBUG = False  # debug pages are for this machine only
            self.stdout.write(f"serving on {options['host']}: debug pages are off")
        self.stdout.write("migrating the database ...")
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("collecting static files ...")
        call_command("collectstatic", interactive=False, verbosity=0)
        self._ensure_admin()
        if not options["no_demo"] and not Bot.objects.exists():
            from apps.market.clock import replaying

            if replaying():  # the embedded demo: the bots paper-trade the replayed market
                self.stdout.write("loading the demo and its market data ...")
                call_command(
                    "load_demo",
                    running=True,
                    data_from=settings.MARKET_REPLAY_START,
                    verbosity=verbosity,
                )
            else:
                call_command("load_demo", verbosity=verbosity)
        call_command("setup_periodic_tasks", verbosity=0)
        from apps.market.clock import replay_clock_resume

        resumed = replay_clock_resume()
        if resumed is not None:
            self.stdout.write(
                f"market clock: replaying from {resumed:%Y-%m-%d %H:%M} UTC at "
                f"{settings.MARKET_REPLAY_SPEED:g}x (the demo's month of shipped candles)"
            )
        if settings.CELERY_EMBEDDED and not options["no_worker"]:
            from apps.core.embedded import start_embedded_worker

            self.stdout.write("starting the embedded Celery worker and beat ...")
            start_embedded_worker()
        self._serve(options["host"], options["port"])

    def _ensure_admin(self) -> None:
        user_model = get_user_model()
        username = settings.ADMIN_USERNAME
        if user_model.objects.filter(is_superuser=True).exists():
            return
        password = settings.ADMIN_PASSWORD
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        user_model.objects.create_superuser(
            username=username, email=settings.ADMIN_EMAIL, password=password
        )
        line = "=" * 64
        self.stdout.write(line)
        self.stdout.write(f"Admin user created: {username}")
        if generated:
            self.stdout.write(f"Password (shown once, change it in the admin): {password}")
        else:
            self.stdout.write("Password: the value of ADMIN_PASSWORD")
        if settings.WEBHOOK_SECRET:
            self.stdout.write(
                f"Webhook passphrase (WEBHOOK_SECRET in .env): {settings.WEBHOOK_SECRET}"
            )
            self.stdout.write("  try it: see 'TradingView webhook' in README.md (a curl line)")
        self.stdout.write(line)

    def _serve(self, host: str, port: int) -> None:
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        from tradingplatform.asgi import application

        if settings.METRICS_TOKEN or settings.METRICS_ALLOWED_IPS:
            how = "bearer METRICS_TOKEN from .env" if settings.METRICS_TOKEN else "allowed IPs"
            self.stdout.write(f"Prometheus metrics: http://{host}:{port}/metrics ({how})")
        # the last line of the start: what comes after it is the stop's one line
        self.stdout.write(f"serving on http://{host}:{port}/ (admin: /admin/, health: /health/)")
        sys.stdout.flush()
        for signum in (signal.SIGINT, signal.SIGTERM):  # our stop, not the reactor's (seconds)
            signal.signal(signum, lambda *_: self._stop())
        try:
            Server(
                application=application,
                endpoints=build_endpoint_description_strings(host=host, port=port),
                signal_handlers=False,
                verbosity=0,
            ).run()
        except OSError as exc:
            raise CommandError(f"cannot serve on {host}:{port}: {exc}") from exc
        self._stop()

    def _stop(self) -> None:
        """Ctrl-C / SIGTERM: stop beat and the worker, giving a running task ``STOP_GRACE_S`` to
        finish, say so in one line and leave at once (requests in flight are cut).

        Nothing is lost by not waiting longer: a paper cycle is one transaction (rolled back
        whole), a live order is recorded before it is sent and recovered from the venue, and a
        signal still waiting is in the database for the next start.
        """
        from apps.core.embedded import embedded_worker_running, stop_embedded_worker

        started = time.monotonic()
        if embedded_worker_running():
            stopper = threading.Thread(target=stop_embedded_worker, daemon=True)
            stopper.start()
            stopper.join(STOP_GRACE_S)
        logging.shutdown()
        self.stdout.write(f"stopped in {time.monotonic() - started:.1f} s")
        sys.stdout.flush()
        os._exit(0)  # no interpreter teardown: idle pool threads would hold it for seconds
