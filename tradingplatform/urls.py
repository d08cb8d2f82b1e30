from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.backtest.views import backtest_report
from apps.core.views import health

admin.site.site_header = "Trading platform"
admin.site.site_title = "Trading platform admin"
admin.site.index_title = "Configure accounts, bots, risk and strategies; review orders and trades"

urlpatterns = [
    path("health/", health, name="health"),
    path("metrics", include("apps.metrics.urls")),  # Prometheus; protected (docs/operations.md)
    path("backtests/<int:run_id>/report/", backtest_report, name="backtest-report"),
    path("admin/", admin.site.urls),
    # each app owns its API routes; this composition root mounts them
    path("api/", include("apps.core.urls")),
    path("api/", include("apps.trading.urls_api")),
    path("api/", include("apps.backtest.urls_api")),
    path("api/", include("apps.webhook.urls_api")),
    path("api/", include("apps.ai.urls_api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("apps.dashboard.urls")),
]
