from __future__ import annotations

from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "apps.metrics"
    label = "metrics"
    verbose_name = "Metrics"

    def ready(self) -> None:
        from apps.metrics import celery_receivers, checks, receivers  # noqa: F401  (connects them)
        from apps.metrics.exposition import side_server_start_from_settings

        side_server_start_from_settings()
