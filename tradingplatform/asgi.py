"""ASGI entry point: Django over HTTP, Channels consumers over websockets (authenticated), and
the TradingView webhook's fast lane in front (``apps.webhook.asgi``, docs/webhook.md "Speed"):
the webhook's path runs through Django's synchronous handler in a small thread pool."""

from __future__ import annotations

import gc
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


def _gc_tune(gen0_threshold: int) -> None:
    """Fewer, shorter garbage-collector pauses in a web process: what was loaded at start
    (Django, the apps, DRF: hundreds of thousands of objects that live as long as the process)
    is moved out of the collector's sight (``gc.freeze``), and the youngest generation is
    collected after ``gen0_threshold`` allocations instead of 700. The pauses were the webhook's
    p99: 71-74 ms without, 18-30 ms with, at 380-600 alerts/s (docs/benchmarks.md)."""
    if gen0_threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)


_gc_tune(settings.WEB_GC_GEN0_THRESHOLD)
