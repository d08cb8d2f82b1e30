"""The ai app's API routes (mounted under /api/ by tradingplatform/urls.py)."""

from django.urls import path

from apps.ai.apis import ModelDetailApi, ModelTrainApi

urlpatterns = [
    path("models/train/", ModelTrainApi.as_view(), name="api-models-train"),
    path("models/<int:model_id>/", ModelDetailApi.as_view(), name="api-model"),
]
