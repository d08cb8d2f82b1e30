"""The experiments in the admin: variants inline, start / stop / promote actions (each behind
its permission), the report page and the promotion's confirmation page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from apps.bots import access
from apps.bots.models import Bot
from apps.experiments.models import BacktestComparison, Experiment, Promotion, Variant
from apps.experiments.selectors import ReportError, experiment_report, report_winner
from apps.experiments.services import (
    ExperimentError,
    experiment_start,
    experiment_stop,
    experiment_variants_build,
    promotion_plan,
    variant_promote,
)
from apps.market.clock import market_now

RUN = "experiments.run_experiment"
PROMOTE = "experiments.promote_variant"


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 2
    min_num = 0
    fields = ["label", "strategy", "parameters", "ai_mode", "risk", "leverage", "bot"]
    readonly_fields = ["bot"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.status != Experiment.Status.DRAFT:
            return False  # the variants of a started experiment are fixed
        return super().has_change_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.status != Experiment.Status.DRAFT:
            return False
        return super().has_add_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.status != Experiment.Status.DRAFT:
            return False
        return super().has_delete_permission(request, obj)


class ExperimentForm(forms.ModelForm):
    class Meta:
        model = Experiment
        fields = [
            "name",
            "description",
            "base_bot",
            "symbols",
            "capital",
            "confidence",
            "resamples",
            "seed",
        ]

    def clean_symbols(self) -> list[str]:
        symbols = self.cleaned_data.get("symbols") or []
        if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
            raise forms.ValidationError('a JSON list of symbols, e.g. ["BTCUSDT"]')
        return [s.strip().upper() for s in symbols]


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    form = ExperimentForm
    list_display = [
        "name",
        "status",
        "base_bot",
        "variant_count",
        "started_at",
        "stopped_at",
        "report_link",
    ]
    list_filter = ["status"]
    search_fields = ["name", "description"]
    inlines = [VariantInline]
    readonly_fields = [
        "status",
        "account",
        "started_at",
        "started_by",
        "stopped_at",
        "stopped_by",
        "report_link",
        "verdicts",
    ]
    actions = ["start_experiments", "stop_experiments", "promote_winner"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fixed = list(self.readonly_fields)
        if obj is not None and obj.status != Experiment.Status.DRAFT:
            fixed += ["name", "base_bot", "symbols", "capital"]
        return fixed

    @admin.display(description="Variants")
    def variant_count(self, obj: Experiment) -> int:
        return obj.variants.count()

    @admin.display(description="Verdict so far")
    def verdicts(self, obj: Experiment) -> str:
        if obj.pk is None or obj.started_at is None:
            return "-"
        try:
            report = experiment_report(experiment=obj, now=market_now())
        except ReportError as exc:
            return str(exc)
        return format_html_join(
            "",
            "<p>{} against {}: <strong>{}</strong></p>",
            ((c.label_b, c.label_a, c.verdict) for c in report.comparisons),
        )

    @admin.display(description="Report")
    def report_link(self, obj: Experiment) -> str:
        if obj.pk is None or obj.started_at is None:
            return "-"
        url = reverse("admin:experiments_experiment_report", args=[obj.pk])
        return format_html('<a href="{}">report</a>', url)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        experiment = form.instance
        if experiment.status == Experiment.Status.DRAFT and experiment.variants.exists():
            try:
                experiment_variants_build(experiment=experiment)
            except ExperimentError as exc:
                self.message_user(
                    request, f"Variants not built: {exc}. Fix and save again.", messages.ERROR
                )

    # --- actions (each behind its permission) ----------------------------------------------

    def has_run_permission(self, request: HttpRequest) -> bool:
        return access.may(request.user, RUN)

    def has_promote_permission(self, request: HttpRequest) -> bool:
        return access.may(request.user, PROMOTE)

    @admin.action(description="Start: all variants begin trading at once", permissions=["run"])
    def start_experiments(self, request: HttpRequest, queryset: QuerySet[Experiment]) -> None:
        now = market_now()
        for experiment in queryset:
            try:
                experiment_start(experiment=experiment, actor=str(request.user), now=now)
            except ExperimentError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            access.action_record(user=request.user, obj=experiment, message="started (admin)")
            self.message_user(
                request, f"{experiment.name}: started at {now:%Y-%m-%d %H:%M} UTC", messages.SUCCESS
            )

    @admin.action(description="Stop: pause all variants, close the period", permissions=["run"])
    def stop_experiments(self, request: HttpRequest, queryset: QuerySet[Experiment]) -> None:
        now = market_now()
        for experiment in queryset:
            try:
                experiment_stop(experiment=experiment, actor=str(request.user), now=now)
            except ExperimentError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            access.action_record(user=request.user, obj=experiment, message="stopped (admin)")
            self.message_user(request, f"{experiment.name}: stopped", messages.SUCCESS)

    @admin.action(description="Promote the winner to a live bot…", permissions=["promote"])
    def promote_winner(self, request: HttpRequest, queryset: QuerySet[Experiment]) -> Any:
        if queryset.count() != 1:
            self.message_user(request, "Choose exactly one experiment.", messages.ERROR)
            return None
        experiment = queryset.get()
        return HttpResponseRedirect(
            reverse("admin:experiments_experiment_promote", args=[experiment.pk])
        )

    # --- pages ---------------------------------------------------------------------------------

    def get_urls(self) -> list[Any]:
        own = [
            path(
                "<int:pk>/report/",
                self.admin_site.admin_view(self.report_view),
                name="experiments_experiment_report",
            ),
            path(
                "<int:pk>/promote/",
                self.admin_site.admin_view(self.promote_view),
                name="experiments_experiment_promote",
            ),
        ]
        return own + super().get_urls()

    def report_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        experiment = get_object_or_404(Experiment, pk=pk)
        if not self.has_view_permission(request, experiment):
            raise PermissionDenied
        try:
            report = experiment_report(experiment=experiment, now=market_now())
            error = ""
        except ReportError as exc:
            report, error = None, str(exc)
        return TemplateResponse(
            request,
            "experiments/report.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Experiment {experiment.name}: report",
                "experiment": experiment,
                "report": report,
                "error": error,
                "winner": report_winner(report) if report else None,
                "may_promote": self.has_promote_permission(request),
                "promotions": experiment.promotions.select_related("bot", "variant")[:20],
            },
        )

    def promote_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_promote_permission(request):
            raise PermissionDenied
        experiment = get_object_or_404(Experiment, pk=pk)
        try:
            report = experiment_report(experiment=experiment, now=market_now())
        except ReportError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:experiments_experiment_changelist"))
        winner = report_winner(report)
        variants = list(experiment.variants.select_related("bot"))
        live_bots = list(Bot.objects.filter(trading_mode=Bot.TradingMode.LIVE).order_by("name"))
        data = request.POST if request.method == "POST" else request.GET
        label = data.get("variant") or (winner or "")
        bot_id = data.get("bot") or ""
        plan, error = None, ""
        variant = next((v for v in variants if v.label == label), None)
        bot = next((b for b in live_bots if str(b.pk) == bot_id), None)
        if variant is not None and bot is not None:
            try:
                plan = promotion_plan(variant=variant, bot=bot)
            except ExperimentError as exc:
                error = str(exc)
        if request.method == "POST" and data.get("confirm") == "yes" and plan is not None:
            verdicts = "; ".join(c.verdict for c in report.comparisons)
            try:
                promotion = variant_promote(
                    variant=plan.variant, bot=plan.bot, actor=str(request.user), verdict=verdicts
                )
            except ExperimentError as exc:
                error = str(exc)
            else:
                access.action_record(
                    user=request.user,
                    obj=experiment,
                    message=f"promoted variant {variant.label} to bot {bot.name} (admin)",
                )
                self.message_user(
                    request,
                    f"{bot.name} now trades variant {variant.label}'s settings "
                    f"(strategy {promotion.strategy.name}); recorded as promotion {promotion.pk} "
                    f"by {request.user}.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:experiments_experiment_report", args=[experiment.pk])
                )
        return TemplateResponse(
            request,
            "experiments/promote.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Promote a variant of {experiment.name}",
                "experiment": experiment,
                "report": report,
                "winner": winner,
                "variants": variants,
                "live_bots": live_bots,
                "chosen_variant": label,
                "chosen_bot": bot_id,
                "plan": plan,
                "error": error,
            },
        )


@admin.register(Promotion)
class PromotionAdmin(admin.ModelAdmin):
    list_display = ["at", "experiment", "variant", "bot", "strategy", "decided_by"]
    list_filter = ["experiment"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in Promotion._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class BacktestComparisonForm(forms.ModelForm):
    class Meta:
        model = BacktestComparison
        fields = ["run_a", "run_b", "confidence", "resamples", "seed"]

    def clean(self) -> dict[str, Any]:
        from apps.experiments.selectors import backtest_runs_compare

        data = super().clean() or {}
        if self.errors:
            return data
        try:
            self.result = backtest_runs_compare(
                run_a=data["run_a"],
                run_b=data["run_b"],
                confidence=data["confidence"],
                resamples=data["resamples"],
                seed=data["seed"],
            )
        except ReportError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return data


@admin.register(BacktestComparison)
class BacktestComparisonAdmin(admin.ModelAdmin):
    """Add one to compare two backtest runs; its page shows the result."""

    form = BacktestComparisonForm
    list_display = ["created_at", "run_a", "run_b", "days", "verdict", "created_by"]

    @admin.display(description="Days")
    def days(self, obj: BacktestComparison) -> Any:
        return (obj.result or {}).get("days", "-")

    @admin.display(description="Verdict")
    def verdict(self, obj: BacktestComparison) -> str:
        return str(((obj.result or {}).get("comparison") or {}).get("verdict", "-"))

    @admin.display(description="Result")
    def result_table(self, obj: BacktestComparison) -> str:
        comparison = (obj.result or {}).get("comparison") or {}
        rows = [("verdict", comparison.get("verdict", "-")), ("days", obj.result.get("days"))]
        for key in ("sharpe_diff", "mean_diff"):
            d = comparison.get(key) or {}
            if d:
                rows.append(
                    (
                        f"{key} (B - A)",
                        f"{d['observed']} [{d['ci_low']}, {d['ci_high']}], p = {d['p_value']}",
                    )
                )
        for side in ("a", "b"):
            f = comparison.get(side) or {}
            if f:
                rows.append(
                    (
                        f"{f['label']}",
                        f"Sharpe {f['sharpe']}, mean daily {f['mean_daily_return']}, "
                        f"total {f['total_return']}",
                    )
                )
        return format_html(
            "<table>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows)
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        return [
            "run_a",
            "run_b",
            "confidence",
            "resamples",
            "seed",
            "result_table",
            "created_by",
            "created_at",
        ]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return ["run_a", "run_b", "confidence", "resamples", "seed"]
        return self.get_readonly_fields(request, obj)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            return  # a comparison is a record: it is never edited
        obj.result = form.result  # computed (and checked) by the form
        obj.created_by = request.user
        obj.save()
