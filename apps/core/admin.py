"""Admin building blocks shared by the apps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib import admin
from django.http import HttpRequest


class ReadOnlyInline(admin.TabularInline):
    """An inline that shows engine-written rows; nothing is added or deleted through it."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Sequence[str]:
        return list(self.fields or [])

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class EngineRecordAdmin(admin.ModelAdmin):
    """Records written by the trading engine: every field read-only, no add page."""

    extra_readonly_fields: Sequence[str] = ()

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields] + list(self.extra_readonly_fields)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


# --- list columns (prices and quantities: apps.exchange.columns) ---------------------------
def time_column(field: str, label: str) -> Any:
    """A list column of a time, labelled with its clock (market time or wall clock)."""

    def show(obj: Any) -> Any:
        return getattr(obj, field)

    show.__name__ = f"{field}_shown"
    return staticmethod(admin.display(description=label, ordering=field)(show))
