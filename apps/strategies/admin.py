from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html_join

from apps.strategies.domain.params import SCHEMAS
from apps.strategies.models import Strategy


@admin.register(Strategy)
class StrategyAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "mode", "timeframe", "parameters", "bot_count", "updated_at"]
    list_filter = ["kind", "mode", "timeframe"]
    search_fields = ["name", "description"]
    readonly_fields = ["parameter_reference", "created_at", "updated_at"]
    fields = [
        "name",
        "kind",
        "mode",
        "timeframe",
        "parameters",
        "parameter_reference",
        "description",
        "created_at",
        "updated_at",
    ]

    @admin.display(description="Bots")
    def bot_count(self, obj: Strategy) -> int:
        return obj.bots.count()

    @admin.display(description="Parameters of this kind")
    def parameter_reference(self, obj: Strategy) -> str:
        schema = SCHEMAS.get(obj.kind) if obj.kind else None
        if schema is None:
            return "Choose a kind and save to see its parameters."
        return format_html_join(
            "",
            "<div><code>{}</code> (default {}{}) {}</div>",
            (
                (
                    p.name,
                    p.default,
                    f", {p.minimum}..{p.maximum}" if p.minimum is not None else "",
                    p.help,
                )
                for p in schema.params
            ),
        )
