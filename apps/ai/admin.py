"""The model registry in the admin: compare, activate for a bot, retire, roll back; the AI's
decisions; each bot's AI settings (an inline of the bot's page)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from apps.ai.models import AiDecision, BotAi, ModelArtifact, ModelPromotion, RetrainRun
from apps.ai.services import ArtifactError, model_activate, model_rollback
from apps.bots import access
from apps.bots.admin import BotAdmin
from apps.bots.models import Bot
from apps.core.admin import EngineRecordAdmin, time_column
from apps.core.domain.formatting import fmt_pct

SLOT_OF_KIND = {"ppo": "agent", "a2c": "agent", "lstm": "predictor", "ensemble": "ensemble"}


class PromoteModelPermission:
    """The admin actions that change which model a bot trades need ``ai.promote_model``."""

    def has_promote_model_permission(self, request: HttpRequest) -> bool:
        return access.may(request.user, access.PROMOTE_MODEL)


def _figure(artifact: ModelArtifact, part: str, key: str) -> Any:
    figures = (artifact.metrics or {}).get(part) or {}
    values = [m["model"][key] for m in figures.values() if "model" in m]
    return sum(values) / len(values) if values else None


class ActivateForm(forms.Form):
    bot = forms.ModelChoiceField(queryset=Bot.objects.filter(rehearsal=False).order_by("name"))
    reason = forms.CharField(max_length=200, required=False)


@admin.register(ModelArtifact)
class ModelArtifactAdmin(PromoteModelPermission, EngineRecordAdmin):
    list_display = [
        "id",
        "name",
        "kind",
        "status",
        "progress_shown",
        "symbols",
        "interval",
        "validation_sharpe",
        "oos_sharpe",
        "oos_return",
        "digest",
        "created_at",
    ]
    list_filter = ["kind", "status", "interval"]
    search_fields = ["name", "sha256"]
    actions = ["compare", "activate", "retire"]

    @admin.display(description="Progress")
    def progress_shown(self, obj: ModelArtifact) -> str:
        return fmt_pct(obj.progress, places=0)

    @admin.display(description="Validation Sharpe")
    def validation_sharpe(self, obj: ModelArtifact) -> str:
        value = _figure(obj, "validation", "sharpe")
        return "—" if value is None else f"{value:.2f}"

    @admin.display(description="Out-of-sample Sharpe")
    def oos_sharpe(self, obj: ModelArtifact) -> str:
        value = _figure(obj, "out_of_sample", "sharpe")
        return "—" if value is None else f"{value:.2f}"

    @admin.display(description="Out-of-sample return")
    def oos_return(self, obj: ModelArtifact) -> str:
        value = _figure(obj, "out_of_sample", "total_return")
        return "—" if value is None else fmt_pct(value)

    @admin.display(description="sha256")
    def digest(self, obj: ModelArtifact) -> str:
        return f"{obj.sha256[:12]}…" if obj.sha256 else "—"

    @admin.action(description="Compare the selected models side by side")
    def compare(self, request: HttpRequest, queryset: QuerySet[ModelArtifact]) -> Any:
        models = list(queryset.order_by("pk"))
        rows = []
        for part in ("in_sample", "validation", "out_of_sample"):
            for key in ("total_return", "sharpe", "max_drawdown", "trades"):
                values = []
                for m in models:
                    v = _figure(m, part, key)
                    if v is None:
                        values.append("—")
                    elif key in ("total_return", "max_drawdown"):
                        values.append(fmt_pct(v))
                    else:
                        values.append(f"{v:.2f}" if key == "sharpe" else f"{v:.0f}")
                rows.append((part.replace("_", " "), key.replace("_", " "), values))
        return TemplateResponse(
            request,
            "admin/ai/compare.html",
            {**self.admin_site.each_context(request), "models": models, "rows": rows},
        )

    @admin.action(
        description="Activate the selected model for a bot", permissions=["promote_model"]
    )
    def activate(self, request: HttpRequest, queryset: QuerySet[ModelArtifact]) -> Any:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one model to activate.", messages.ERROR)
            return None
        artifact = queryset.get()
        form = ActivateForm(request.POST if "bot" in request.POST else None)
        if not form.is_valid():
            return TemplateResponse(
                request,
                "admin/ai/activate.html",
                {**self.admin_site.each_context(request), "artifact": artifact, "form": form},
            )
        bot = form.cleaned_data["bot"]
        try:
            model_activate(
                bot=bot,
                slot=SLOT_OF_KIND[artifact.kind],
                artifact=artifact,
                decided_by=str(request.user),
                reason=form.cleaned_data["reason"],
            )
        except (ArtifactError, ValueError) as exc:
            self.message_user(request, f"Not activated: {exc}", messages.ERROR)
            return None
        access.action_record(
            user=request.user, obj=artifact, message=f"activated for {bot} (admin)"
        )
        self.message_user(
            request,
            f"{artifact} is now the {SLOT_OF_KIND[artifact.kind]} of {bot}.",
            messages.SUCCESS,
        )
        return None

    @admin.action(description="Retire the selected models", permissions=["promote_model"])
    def retire(self, request: HttpRequest, queryset: QuerySet[ModelArtifact]) -> None:
        used = [
            m
            for m in queryset
            if BotAi.objects.filter(agent=m).exists()
            or BotAi.objects.filter(predictor=m).exists()
            or BotAi.objects.filter(ensemble=m).exists()
        ]
        if used:
            names = ", ".join(str(m.pk) for m in used)
            self.message_user(request, f"In use by a bot, not retired: {names}", messages.ERROR)
        to_retire = list(queryset.exclude(pk__in=[m.pk for m in used]))
        retired = ModelArtifact.objects.filter(pk__in=[m.pk for m in to_retire]).update(
            status=ModelArtifact.Status.RETIRED
        )
        for artifact in to_retire:
            access.action_record(user=request.user, obj=artifact, message="retired (admin)")
        if retired:
            self.message_user(request, f"Retired {retired} model(s).", messages.SUCCESS)


@admin.register(ModelPromotion)
class ModelPromotionAdmin(PromoteModelPermission, EngineRecordAdmin):
    list_display = ["at", "bot", "slot", "previous", "new", "decided_by", "reason", "rolled_back"]
    list_filter = ["slot", "rolled_back", "bot"]
    actions = ["roll_back"]

    @admin.action(
        description="Roll back the selected promotion (the previous model again)",
        permissions=["promote_model"],
    )
    def roll_back(self, request: HttpRequest, queryset: QuerySet[ModelPromotion]) -> None:
        for promotion in queryset:
            try:
                back = model_rollback(promotion=promotion, decided_by=str(request.user))
            except (ArtifactError, ValueError) as exc:
                self.message_user(request, f"{promotion}: {exc}", messages.ERROR)
                continue
            access.action_record(user=request.user, obj=promotion, message="rolled back (admin)")
            self.message_user(request, f"Rolled back: {back}", messages.SUCCESS)


@admin.register(RetrainRun)
class RetrainRunAdmin(PromoteModelPermission, EngineRecordAdmin):
    list_display = ["at", "bot", "slot", "active", "candidate", "active_score", "candidate_score",
                    "margin", "decision"]  # fmt: skip
    list_filter = ["decision", "slot", "bot"]
    actions = ["approve"]

    @admin.action(
        description="Approve: make the candidate the bot's active model",
        permissions=["promote_model"],
    )
    def approve(self, request: HttpRequest, queryset: QuerySet[RetrainRun]) -> None:
        for run in queryset.select_related("bot", "candidate"):
            if run.decision != RetrainRun.Decision.AWAITING or run.candidate is None:
                self.message_user(request, f"{run}: nothing awaits approval", messages.ERROR)
                continue
            try:
                model_activate(
                    bot=run.bot,
                    slot=run.slot,
                    artifact=run.candidate,
                    decided_by=str(request.user),
                    reason=f"approved re-training run {run.pk}",
                )
            except (ArtifactError, ValueError) as exc:
                self.message_user(request, f"{run}: {exc}", messages.ERROR)
                continue
            RetrainRun.objects.filter(pk=run.pk).update(decision=RetrainRun.Decision.PROMOTED)
            access.action_record(user=request.user, obj=run, message="approved (admin)")
            self.message_user(request, f"{run.bot}: {run.candidate} promoted", messages.SUCCESS)


@admin.register(AiDecision)
class AiDecisionAdmin(EngineRecordAdmin):
    decided = time_column("at", "At (market time)")
    list_display = [
        "decided",
        "bot",
        "symbol",
        "role",
        "mode",
        "action",
        "confidence_shown",
        "latency_shown",
        "used",
        "outcome",
    ]
    list_filter = ["role", "outcome", "used", "action", "bot"]
    date_hierarchy = "at"

    @admin.display(description="Confidence", ordering="confidence")
    def confidence_shown(self, obj: AiDecision) -> str:
        return fmt_pct(obj.confidence)

    @admin.display(description="Latency (ms)", ordering="latency_ms")
    def latency_shown(self, obj: AiDecision) -> str:
        return f"{obj.latency_ms:.2f}"


class BotAiInline(admin.StackedInline):
    model = BotAi
    can_delete = False
    extra = 0
    max_num = 1
    verbose_name = verbose_name_plural = "AI (HybridAI): role, mode, models, re-training"
    fields = [
        ("role", "mode"),
        ("min_confidence", "weight"),
        ("agent", "predictor", "ensemble"),
        ("retrain_every_days", "retrain_window_days", "promote_margin", "auto_promote"),
    ]


# The bot's page shows its AI settings (the bots app knows nothing of the AI).
BotAdmin.inlines = [*BotAdmin.inlines, BotAiInline]
