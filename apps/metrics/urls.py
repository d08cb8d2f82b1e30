"""The metrics route (mounted at /metrics by tradingplatform/urls.py)."""

from django.urls import path

from apps.metrics.views import metrics

urlpatterns = [path("", metrics, name="metrics")]
