"""Schema fuzzing of the webhook with schemathesis: whatever the body, no 500, and every answer
is one the OpenAPI schema documents."""

from __future__ import annotations

import json

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings

pytestmark = pytest.mark.django_db

DOCUMENTED = {200, 202, 400, 401, 422}


@pytest.fixture
def webhook_operation(settings, signal_bot):
    settings.WEBHOOK_SECRET = "fuzz-secret"
    settings.WEBHOOK_THROTTLE_RATE = "100000/minute"
    raw = SchemaGenerator().get_schema(request=None, public=True)
    return schemathesis.openapi.from_dict(raw)["/api/webhook/tradingview/"]["POST"]


def test_webhook_fuzzed_bodies_never_get_a_server_error(webhook_operation, client) -> None:
    seen: set[int] = set()

    @given(case=webhook_operation.as_strategy())
    @hypothesis_settings(
        max_examples=100,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def check(case) -> None:
        if isinstance(case.body, dict):  # authenticated: fuzzing reaches validation and beyond
            case.body = {**case.body, "passphrase": "fuzz-secret", "bot": "tv-bot"}
        # Django's test client (not the WSGI app) keeps the test's database transaction open.
        raw = case.body if isinstance(case.body, str | bytes) else json.dumps(case.body)
        response = client.post(case.formatted_path, raw, content_type="application/json")
        assert response.status_code < 500, (case.body, response.content)
        assert response.status_code in DOCUMENTED, (case.body, response.content)
        assert set(response.json()) in (
            {"message", "code", "extra"},
            {"signal_id", "status", "duplicate"},
        )
        seen.add(response.status_code)

    check()
    assert 400 in seen  # the fuzzer got past authentication into the field checks
