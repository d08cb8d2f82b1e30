"""Hypothesis against POST /api/webhook/tradingview/: hostile strings, numbers, nesting, types,
sizes and headers; never a 5xx, always a JSON answer, nothing stored for a refusal.

Through Django's test client (the whole middleware and view stack in the test's transaction),
and once over real HTTP against a live server (``live_server``: a real socket, a real server
thread, committed rows).
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.conftest import check_webhook_answer, signal_counts
from tests.fuzz.payloads import (
    authenticated_alerts,
    bodies,
    content_types,
    deep_nesting,
    forwarded_for,
    fuzz_settings,
    http_content_types,
    request_headers,
)

URL = "/api/webhook/tradingview/"


@pytest.mark.django_db
def test_webhook_fuzzed_requests_never_get_a_server_error(client, fuzz_bot) -> None:
    seen: set[int] = set()

    @given(body=bodies, content_type=content_types, headers=request_headers())
    @fuzz_settings()
    def check(body: bytes, content_type: str, headers: dict[str, Any]) -> None:
        before = signal_counts()
        response = client.post(URL, body, content_type=content_type, **headers)
        check_webhook_answer(response.status_code, response.content, before, signal_counts())
        seen.add(response.status_code)

    check()
    assert {400, 401} <= seen  # the fuzzer reached both the parser and authentication


@pytest.mark.django_db
def test_webhook_fuzzed_authenticated_alerts_never_get_a_server_error(client, fuzz_bot) -> None:
    seen: set[int] = set()

    @given(body=authenticated_alerts())
    @fuzz_settings()
    def check(body: str) -> None:
        before = signal_counts()
        response = client.post(URL, body.encode(), content_type="text/plain")
        check_webhook_answer(response.status_code, response.content, before, signal_counts())
        seen.add(response.status_code)

    check()
    assert 400 in seen and seen & {202, 422}  # past authentication, into validation and storage


@pytest.mark.django_db
def test_webhook_fuzzed_forwarded_for_behind_a_proxy_never_gets_a_server_error(
    client, settings, fuzz_bot
) -> None:
    settings.WEBHOOK_TRUSTED_PROXIES = 1
    settings.WEBHOOK_ALLOWED_IPS = ["52.89.214.238", "2001:db8::/32"]

    @given(forwarded=forwarded_for, body=st.one_of(authenticated_alerts(), deep_nesting()))
    @fuzz_settings()
    def check(forwarded: str, body: str) -> None:
        before = signal_counts()
        response = client.post(
            URL, body.encode(), content_type="application/json", HTTP_X_FORWARDED_FOR=forwarded
        )
        check_webhook_answer(response.status_code, response.content, before, signal_counts())

    check()


@pytest.mark.django_db
def test_webhook_fuzzed_bodies_with_hmac_on_are_refused_before_parsing(
    client, settings, fuzz_bot
) -> None:
    settings.WEBHOOK_HMAC_KEY = "fuzz-hmac-key"

    @given(body=bodies, headers=request_headers())
    @fuzz_settings()
    def check(body: bytes, headers: dict[str, Any]) -> None:
        before = signal_counts()
        response = client.post(URL, body, content_type="application/json", **headers)
        check_webhook_answer(response.status_code, response.content, before, signal_counts())
        assert response.status_code == 401  # no valid signature: the body is never looked at

    check()


def test_webhook_fuzzed_over_real_http_never_gets_a_server_error(live_server, fuzz_bot) -> None:
    session = requests.Session()
    seen: set[int] = set()

    @given(body=bodies, content_type=http_content_types)
    @fuzz_settings()
    def check(body: bytes, content_type: str) -> None:
        before = signal_counts()
        response = session.post(
            live_server.url + URL,
            data=body,
            headers={"Content-Type": content_type} if content_type else {},
            timeout=60,
        )
        check_webhook_answer(response.status_code, response.content, before, signal_counts())
        seen.add(response.status_code)

    check()
    assert {400, 401} <= seen
