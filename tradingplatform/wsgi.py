"""WSGI entry point (HTTP only; websockets need the ASGI application)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingplatform.settings.dev")
application = get_wsgi_application()
