from __future__ import annotations

import json

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from apps.backtest.models import (
    BacktestRun,
    OptimizationRun,
    OptimizationTrial,
    Reoptimization,
    ReoptimizationRun,
)
from apps.bots import access
from apps.bots.admin import BotAdmin
from apps.core.admin import EngineRecordAdmin


@admin.register(BacktestRun)
class BacktestRunAdmin(EngineRecordAdmin):
    list_display = [
        "id",
        "strategy",
        "status",
        "trade_count",
        "total_pnl",
        "engine_seconds",
        "code_version",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "strategy"]
    search_fields = ["strategy", "code_version", "error"]
    date_hierarchy = "created_at"
    extra_readonly_fields = ["report"]

    @admin.display(description="Report")
    def report(self, obj: BacktestRun) -> str:
        if obj.status != BacktestRun.Status.DONE:
            return "available when the run is done"
        url = reverse("backtest-report", args=[obj.pk])
        return format_html('<a href="{}">equity, drawdown and trades (HTML)</a>', url)


@admin.register(OptimizationRun)
class OptimizationRunAdmin(EngineRecordAdmin):
    list_display = [
        "id",
        "strategy",
        "sampler",
        "objective",
        "seed",
        "n_trials",
        "status",
        "mean_in_sample",
        "mean_out_of_sample",
        "distributed",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "sampler", "objective", "strategy", "distributed"]
    search_fields = ["strategy", "code_version", "error"]
    date_hierarchy = "created_at"
    extra_readonly_fields = ["trial_states", "walk_forward"]

    @admin.display(description="Trials")
    def trial_states(self, obj: OptimizationRun) -> str:
        counts = dict(
            obj.trials.values_list("state").annotate(n=Count("pk")).values_list("state", "n")
        )
        url = reverse("admin:backtest_optimizationtrial_changelist") + f"?run__id__exact={obj.pk}"
        text = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "none yet"
        return format_html('<a href="{}">{}</a>', url, text)

    @admin.display(description="Walk-forward: in-sample vs out-of-sample")
    def walk_forward(self, obj: OptimizationRun) -> str:
        if not obj.windows:
            return "available when the run is done"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    w["window"] + 1,
                    w["train"],
                    w["test"],
                    f"{w['in_sample']:.3f}",
                    f"{w['out_of_sample']:.3f}",
                    json.dumps(w["best_params"], sort_keys=True),
                )
                for w in obj.windows
            ),
        )
        return format_html(
            "<table><thead><tr><th>window</th><th>train</th><th>test</th><th>in-sample {}</th>"
            "<th>out-of-sample {}</th><th>best params</th></tr></thead><tbody>{}</tbody></table>",
            obj.objective,
            obj.objective,
            rows,
        )


@admin.register(OptimizationTrial)
class OptimizationTrialAdmin(EngineRecordAdmin):
    list_display = [
        "id",
        "run",
        "window",
        "number",
        "state",
        "value",
        "out_of_sample_value",
        "worker",
        "attempts",
        "finished_at",
    ]
    list_filter = ["state", "run__sampler", "run__objective", "worker"]
    search_fields = ["=run__id", "worker", "error"]
    list_select_related = ["run"]
    ordering = ["-run", "window", "number"]


@admin.register(ReoptimizationRun)
class ReoptimizationRunAdmin(EngineRecordAdmin):
    list_display = ["at", "bot", "decision", "active_score", "candidate_score", "margin",
                    "active_strategy", "new_strategy", "decided_by", "rolled_back"]  # fmt: skip
    list_filter = ["decision", "rolled_back", "bot"]
    actions = ["approve", "roll_back"]

    def has_approve_reoptimization_permission(self, request: HttpRequest) -> bool:
        return access.may(request.user, access.APPROVE_REOPTIMIZATION)

    @admin.action(
        description="Approve: the bot trades the candidate parameters",
        permissions=["approve_reoptimization"],
    )
    def approve(self, request: HttpRequest, queryset: QuerySet[ReoptimizationRun]) -> None:
        from apps.backtest.optimisation.reoptimization import parameters_promote

        for run in queryset:
            try:
                parameters_promote(run=run, decided_by=str(request.user))
            except ValueError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            access.action_record(user=request.user, obj=run, message="approved (admin)")
            self.message_user(request, f"{run.bot}: now on {run.new_strategy}", messages.SUCCESS)

    @admin.action(
        description="Roll back: the bot goes back to its previous parameters",
        permissions=["approve_reoptimization"],
    )
    def roll_back(self, request: HttpRequest, queryset: QuerySet[ReoptimizationRun]) -> None:
        from apps.backtest.optimisation.reoptimization import parameters_rollback

        for run in queryset:
            try:
                parameters_rollback(run=run, decided_by=str(request.user))
            except ValueError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            access.action_record(user=request.user, obj=run, message="rolled back (admin)")
            self.message_user(
                request, f"{run.bot}: back on {run.active_strategy}", messages.SUCCESS
            )


class ReoptimizationInline(admin.StackedInline):
    model = Reoptimization
    can_delete = False
    extra = 0
    max_num = 1
    verbose_name = verbose_name_plural = "Parameter re-optimisation (rule strategies)"
    fields = [("every_days", "window_days", "trials", "objective"),
              ("promote_margin", "auto_promote")]  # fmt: skip


# The bot's page holds its re-optimisation schedule (the bots app knows nothing of it).
BotAdmin.inlines = [*BotAdmin.inlines, ReoptimizationInline]
