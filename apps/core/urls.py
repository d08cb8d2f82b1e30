from django.urls import path

from apps.ai.apis import ModelDetailApi, ModelTrainApi
from apps.backtest.apis import BacktestDetailApi, BacktestStartApi
from apps.core.apis import PingApi
from apps.trading.apis import KillSwitchApi
from apps.webhook.apis import TradingViewWebhookApi

urlpatterns = [
    path("ping/", PingApi.as_view(), name="api-ping"),
    path("killswitch/", KillSwitchApi.as_view(), name="api-killswitch"),
    path("backtests/", BacktestStartApi.as_view(), name="api-backtests"),
    path("backtests/<int:run_id>/", BacktestDetailApi.as_view(), name="api-backtest"),
    path("webhook/tradingview/", TradingViewWebhookApi.as_view(), name="api-webhook-tradingview"),
    path("models/train/", ModelTrainApi.as_view(), name="api-models-train"),
    path("models/<int:model_id>/", ModelDetailApi.as_view(), name="api-model"),
]
