from __future__ import annotations

import secrets
import sys
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from apps.bots.models import Bot


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
        self.stdout.write(line)

    def _serve(self, host: str, port: int) -> None:
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        from tradingplatform.asgi import application

        self.stdout.write(f"serving on http://{host}:{port}/ (admin: /admin/, health: /health/)")
        sys.stdout.flush()
        try:
            Server(
                application=application,
                endpoints=build_endpoint_description_strings(host=host, port=port),
                signal_handlers=True,
                verbosity=0,
            ).run()
        except OSError as exc:
            raise CommandError(f"cannot serve on {host}:{port}: {exc}") from exc
