"""The backtest app's API routes (mounted under /api/ by tradingplatform/urls.py)."""

from django.urls import path

from apps.backtest.apis import BacktestDetailApi, BacktestStartApi

urlpatterns = [
    path("backtests/", BacktestStartApi.as_view(), name="api-backtests"),
    path("backtests/<int:run_id>/", BacktestDetailApi.as_view(), name="api-backtest"),
]
