from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.core.health import run_checks


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Report the status of the database, cache, broker and channel layer as JSON."""
    checks = run_checks()
    ok = all(result.ok for result in checks.values())
    body = {
        "status": "ok" if ok else "degraded",
        "checks": {name: result.as_dict() for name, result in checks.items()},
    }
    return JsonResponse(body, status=200 if ok else 503)
