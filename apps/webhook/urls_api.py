"""The webhook app's API routes (mounted under /api/ by tradingplatform/urls.py)."""

from django.urls import path

from apps.webhook.apis import TradingViewWebhookApi

urlpatterns = [
    path(
        "webhook/tradingview/",
        TradingViewWebhookApi.as_view(),
        name="api-webhook-tradingview",
    ),
]
