"""ASGI entry point: Django over HTTP, Channels consumers over websockets (authenticated), and
the TradingView webhook's fast lane in front (``apps.webhook.asgi``, docs/webhook.md "Speed"):
the webhook's path runs through Django's synchronous handler in a small thread pool."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingplatform.settings.dev")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from apps.dashboard.routing import websocket_urlpatterns  # noqa: E402
from apps.webhook.asgi import WebhookFastLane  # noqa: E402

# Every path through Django's ASGI handler (the fast lane's tests compare against it).
router = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)

application = WebhookFastLane(router, threads=settings.WEBHOOK_WEB_THREADS)
