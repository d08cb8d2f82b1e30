"""The trading app's API routes (mounted under /api/ by tradingplatform/urls.py)."""

from django.urls import path

from apps.trading.apis import KillSwitchApi

urlpatterns = [
    path("killswitch/", KillSwitchApi.as_view(), name="api-killswitch"),
]
