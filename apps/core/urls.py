from django.urls import path

from apps.core.apis import PingApi
from apps.trading.apis import KillSwitchApi

urlpatterns = [
    path("ping/", PingApi.as_view(), name="api-ping"),
    path("killswitch/", KillSwitchApi.as_view(), name="api-killswitch"),
]
