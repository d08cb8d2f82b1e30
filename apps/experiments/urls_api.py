"""The experiments app's API routes (mounted under /api/ through apps.core.urls)."""

from django.urls import path

from apps.experiments.apis import (
    BacktestCompareApi,
    ExperimentListApi,
    ExperimentPromoteApi,
    ExperimentReportApi,
    ExperimentStartApi,
    ExperimentStopApi,
)

urlpatterns = [
    path("experiments/", ExperimentListApi.as_view(), name="api-experiments"),
    path(
        "experiments/backtests/compare/",
        BacktestCompareApi.as_view(),
        name="api-experiments-backtest-compare",
    ),
    path(
        "experiments/<slug:name>/report/",
        ExperimentReportApi.as_view(),
        name="api-experiment-report",
    ),
    path(
        "experiments/<slug:name>/start/", ExperimentStartApi.as_view(), name="api-experiment-start"
    ),
    path("experiments/<slug:name>/stop/", ExperimentStopApi.as_view(), name="api-experiment-stop"),
    path(
        "experiments/<slug:name>/promote/",
        ExperimentPromoteApi.as_view(),
        name="api-experiment-promote",
    ),
]
