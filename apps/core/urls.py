from django.urls import path

from apps.core.apis import PingApi

urlpatterns = [
    path("ping/", PingApi.as_view(), name="api-ping"),
]
