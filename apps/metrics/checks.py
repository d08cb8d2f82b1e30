"""A malformed metrics allowlist stops ``manage.py`` at start with one line naming the entry."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from apps.metrics.domain.access import AccessConfigError, parse_networks


@register()
def metrics_allowlist_check(app_configs: Any = None, **_: Any) -> list[Error]:
    try:
        parse_networks(settings.METRICS_ALLOWED_IPS)
    except AccessConfigError as exc:
        return [Error(str(exc), id="metrics.E001")]
    return []
