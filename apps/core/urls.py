"""The core app's API routes (mounted under /api/ by tradingplatform/urls.py)."""

from django.urls import include, path

from apps.core.apis import PingApi

urlpatterns = [
    path("ping/", PingApi.as_view(), name="api-ping"),
    path("", include("apps.experiments.urls_api")),
]
