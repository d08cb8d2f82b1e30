from __future__ import annotations

import pytest

from apps.core.embedded import start_embedded_worker, stop_embedded_worker


@pytest.fixture
def embedded_worker():
    start_embedded_worker(concurrency=1, with_beat=False)
    yield
    stop_embedded_worker()


@pytest.mark.django_db
def test_health_with_embedded_services_reports_ok(client, embedded_worker) -> None:
    response = client.get("/health/")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "broker", "channel_layer"}
    assert all(check["status"] == "ok" for check in body["checks"].values())
    assert body["checks"]["broker"]["backend"] == "memory"


@pytest.mark.django_db
def test_health_with_no_worker_reports_degraded_broker(client) -> None:
    stop_embedded_worker()
    response = client.get("/health/")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "degraded"
    assert body["checks"]["broker"]["status"] == "error"
    assert "not running" in body["checks"]["broker"]["detail"]
    assert body["checks"]["database"]["status"] == "ok"


@pytest.mark.redis
@pytest.mark.django_db
def test_health_with_redis_backends_reports_ok(client, settings, redis_url) -> None:
    from channels.layers import channel_layers
    from django.core.cache import caches

    from tradingplatform.celery import app

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}
    }
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url], "prefix": "health-test"},
        }
    }
    channel_layers.backends = {}
    old_broker = app.conf.broker_url
    app.conf.broker_url = redis_url
    try:
        body = client.get("/health/").json()
    finally:
        app.conf.broker_url = old_broker
        channel_layers.backends = {}
        caches["default"].close()
    assert body["status"] == "ok", body
    assert body["checks"]["cache"]["backend"] == "RedisCache"
    assert body["checks"]["broker"]["backend"] == "redis"
    assert body["checks"]["channel_layer"]["backend"] == "RedisChannelLayer"


@pytest.mark.django_db
def test_health_with_unreachable_redis_reports_degraded(client, settings) -> None:
    from channels.layers import channel_layers

    from tradingplatform.celery import app

    dead = "redis://127.0.0.1:1/0"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": dead}
    }
    old_broker = app.conf.broker_url
    app.conf.broker_url = dead
    settings.HEALTH_CHECK_TIMEOUT = 0.5
    try:
        response = client.get("/health/")
    finally:
        app.conf.broker_url = old_broker
        channel_layers.backends = {}
    body = response.json()
    assert response.status_code == 503
    assert body["checks"]["cache"]["status"] == "error"
    assert body["checks"]["broker"]["status"] == "error"
    assert body["checks"]["database"]["status"] == "ok"


@pytest.mark.django_db
def test_ping_api_with_embedded_worker_returns_the_workers_answer(
    admin_client_logged, embedded_worker
) -> None:
    response = admin_client_logged.post("/api/ping/", {"token": "abc"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["result"]["pong"] == "abc"


@pytest.mark.django_db
def test_ping_api_with_anonymous_user_is_refused_with_error_body(client) -> None:
    response = client.post("/api/ping/", {"token": "abc"})
    assert response.status_code == 403
    body = response.json()
    assert set(body) == {"message", "code", "extra"}
