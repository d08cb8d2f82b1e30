"""``/metrics``: the platform's Prometheus metrics, for a bearer token and/or an allowed address.

Nothing configured: 404, as if the route did not exist (metrics are never public). The source
address is the peer's (``REMOTE_ADDR``); behind a proxy, allow the proxy's address or use the
token.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from apps.metrics.domain.access import Verdict
from apps.metrics.exposition import metrics_access, scrape

_REFUSED = {
    Verdict.DISABLED: (404, "not found"),
    Verdict.UNAUTHORIZED: (401, "a bearer token is required"),
    Verdict.FORBIDDEN: (403, "this address may not read the metrics"),
}


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    verdict = metrics_access().check(
        authorization=request.headers.get("Authorization", ""),
        remote_addr=request.META.get("REMOTE_ADDR", ""),
    )
    if verdict is not Verdict.ALLOWED:
        status, text = _REFUSED[verdict]
        response = HttpResponse(f"{text}\n", status=status, content_type="text/plain")
        if verdict is Verdict.UNAUTHORIZED:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(scrape(with_state=True), content_type=CONTENT_TYPE_LATEST)
