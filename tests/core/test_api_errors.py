"""Every API answer is JSON with the one error body, whatever goes wrong."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

URL = "/api/webhook/tradingview/"


def test_api_body_over_the_limit_is_413_json_before_it_is_read(client, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post(URL, data="x" * 5000, content_type="text/plain")
    assert response.status_code == 413
    assert response.json() == {
        "message": "request body over 1000 bytes",
        "code": "too_large",
        "extra": {"limit": 1000},
    }


def test_api_unexpected_error_is_500_json_without_a_debug_page(client, monkeypatch) -> None:
    import apps.webhook.apis as webhook_apis

    def explode(**kwargs):
        raise RuntimeError("boom in the parser")

    monkeypatch.setattr(webhook_apis, "parse_body", explode)
    client.raise_request_exception = False
    response = client.post(URL, data="{}", content_type="application/json")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == "server_error" and "boom" not in body["message"]
