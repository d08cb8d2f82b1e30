"""The cockpit's research pages (backtests, optimisations, model training)."""

from __future__ import annotations

from django.urls import path

from apps.dashboard import views_research as views

urlpatterns = [
    path("", views.research_index, name="research"),
    path("progress.json", views.research_progress, name="research-progress"),
    path("backtests/compare/", views.backtest_compare, name="research-compare"),
    path("backtests/<int:run_id>/", views.backtest_detail, name="research-backtest"),
    path("optimizations/<int:run_id>/", views.optimization_detail, name="research-optimization"),
    path(
        "optimizations/<int:run_id>/data.json",
        views.optimization_data,
        name="research-optimization-data",
    ),
]
