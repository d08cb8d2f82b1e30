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
        assert name in html
    assert "/ws/live/" in html
    assert "No trades yet." in html


def test_api_schema_with_staff_user_is_served(admin_client_logged) -> None:
    response = admin_client_logged.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/ping/" in response.content
