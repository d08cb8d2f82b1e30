"""Form fields for the admin that choose among the instruments."""

from __future__ import annotations

from typing import Any

from django import forms

from apps.exchange.models import Instrument


class SymbolsField(forms.MultipleChoiceField):
    """The bot's symbols, chosen among the instruments (stored as a list of names)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.SelectMultiple(attrs={"size": 8}))
        super().__init__(choices=self._choices, **kwargs)

    @staticmethod
    def _choices() -> list[tuple[str, str]]:
        return [
            (s, s) for s in Instrument.objects.order_by("symbol").values_list("symbol", flat=True)
        ]
