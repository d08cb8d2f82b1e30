from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_dashboard_with_anonymous_user_redirects_to_login(client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_dashboard_with_staff_user_lists_demo_bots_and_opens_live_socket(
    admin_client_logged, demo
) -> None:
    html = admin_client_logged.get("/").content.decode()
    for name in ("demo-scalp", "demo-swing", "demo-signal"):
        assert f'data-testid="bot-row" data-bot="{name}"' in html
    assert 'data-ws-path="/ws/live/"' in html
    assert 'data-testid="no-positions"' in html


def test_api_schema_with_staff_user_is_served(admin_client_logged) -> None:
    response = admin_client_logged.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/ping/" in response.content


def test_api_schema_shows_the_three_webhook_examples(admin_client_logged) -> None:
    import yaml

    schema = yaml.safe_load(admin_client_logged.get("/api/schema/").content)
    body = schema["paths"]["/api/webhook/tradingview/"]["post"]["requestBody"]["content"]
    examples = body["application/json"]["examples"]
    assert len(examples) == 3
    assert {e["value"]["action"] for e in examples.values()} == {"buy", "sell", "close"}
    assert "text/plain" in body  # TradingView's own content type


def test_api_docs_page_loads_swagger_from_the_package_not_a_cdn(admin_client_logged) -> None:
    html = admin_client_logged.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn.jsdelivr" not in html and "unpkg" not in html
