"""Form fields for the admin: lists of small records edited as rows, not raw JSON."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError


class RowsField(forms.Field):
    """A list of records edited as one row per line, values separated by spaces.

    ``columns`` names each record's keys in order; the last ``optional`` of them may be left
    out of a row; ``integers`` are stored as numbers, the rest as strings. The stored value is
    the list of dicts that the model's own validation checks; a row with a wrong number of
    values is refused here, naming it.
    """

    def __init__(
        self,
        *,
        columns: tuple[str, ...],
        optional: int = 0,
        integers: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> None:
        self.columns, self.optional, self.integers = columns, optional, integers
        kwargs.setdefault(
            "widget", forms.Textarea(attrs={"rows": 5, "cols": 60, "class": "vLargeTextField"})
        )
        shown = " ".join(
            f"[{c}]" if i >= len(columns) - optional else c for i, c in enumerate(columns)
        )
        hint = f"One per line: {shown}."
        kwargs["help_text"] = f"{hint} {kwargs.get('help_text', '')}".strip()
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        lines = []
        for row in value or []:
            cells = [str(row.get(c, "")) for c in self.columns]
            while cells and cells[-1] == "":
                cells.pop()
            lines.append(" ".join(cells))
        return "\n".join(lines)

    def to_python(self, value: Any) -> list[dict[str, str]]:
        if isinstance(value, list):
            return value
        rows = []
        for number, line in enumerate(str(value or "").splitlines(), start=1):
            cells = line.split()
            if not cells:
                continue
            least = len(self.columns) - self.optional
            if not least <= len(cells) <= len(self.columns):
                expected = " ".join(self.columns)
                raise ValidationError(
                    f"line {number} ({line.strip()!r}): expected {expected}, "
                    f"got {len(cells)} value(s)"
                )
            row: dict[str, Any] = dict(zip(self.columns, cells, strict=False))
            for name in self.integers:
                if name in row:
                    try:
                        row[name] = int(row[name])
                    except ValueError:
                        raise ValidationError(
                            f"line {number}: {name} must be a whole number, got {row[name]!r}"
                        ) from None
            rows.append(row)
        return rows
