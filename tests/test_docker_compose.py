"""docker-compose.yml: no Docker engine here, so the file is parsed and checked."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_compose_with_platform_services_defines_all_five() -> None:
    services = _compose()["services"]
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)


def test_compose_with_app_services_shares_one_definition() -> None:
    services = _compose()["services"]
    images = {services[name].get("image") for name in ("web", "worker", "beat")}
    builds = {str(services[name].get("build")) for name in ("web", "worker", "beat")}
    assert len(images) == 1 and len(builds) == 1
    for name in ("web", "worker", "beat"):
        env_files = services[name].get("env_file")
        assert env_files, name
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgres://")
        assert services[name]["environment"]["REDIS_URL"].startswith("redis://redis:6379")
        assert services[name]["environment"]["DJANGO_SETTINGS_MODULE"] == (
            "tradingplatform.settings.prod"
        )
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"


def test_compose_with_commands_runs_asgi_worker_and_database_beat() -> None:
    services = _compose()["services"]

    def command(name: str) -> str:
        value = services[name]["command"]
        return " ".join(value) if isinstance(value, list) else value

    assert "daphne" in command("web") and "tradingplatform.asgi:application" in command("web")
    assert "celery" in command("worker") and " worker" in command("worker")
    assert "celery" in command("beat") and " beat" in command("beat")
    assert "django_celery_beat.schedulers:DatabaseScheduler" in command("beat")


def test_compose_with_every_service_has_a_healthcheck() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        assert "healthcheck" in service, name
        assert service["healthcheck"]["test"], name
    assert "/health/" in " ".join(services["web"]["healthcheck"]["test"])


def test_compose_with_env_file_names_only_variables_the_settings_read() -> None:
    text = (REPO / ".env.example").read_text()
    names = {
        line.split("=", 1)[0].strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    }
    settings_text = "".join(p.read_text() for p in (REPO / "tradingplatform").rglob("*.py"))
    for name in names:
        assert f'"{name}"' in settings_text, f"{name} in .env.example is read nowhere"
    assert {"DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEY", "DATABASE_URL", "REDIS_URL"} <= names


def test_compose_with_platform_processes_restarts_each_one() -> None:
    """A Celery worker exits on some broker losses (kombu: an unrecoverable error when Redis
    restarts, seen in benchmarks/chaos.py): the supervisor must start it again."""
    services = _compose()["services"]
    for name in ("web", "worker", "beat", "postgres", "redis"):
        assert services[name].get("restart") in ("always", "unless-stopped"), name


def test_compose_with_monitoring_runs_prometheus_and_grafana_on_the_repository_config() -> None:
    compose = _compose()
    services = compose["services"]
    prometheus, grafana = services["prometheus"], services["grafana"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    assert (REPO / "deploy/prometheus/prometheus.yml").is_file()
    # the bearer token reaches Prometheus as a secret from the environment, never the repo
    assert prometheus["secrets"] == ["metrics_token"]
    assert compose["secrets"]["metrics_token"] == {"environment": "METRICS_TOKEN"}
    scrape = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    targets = {
        job["job_name"]: [t for c in job["static_configs"] for t in c["targets"]]
        for job in scrape["scrape_configs"]
    }
    for name in ("web", "worker", "beat"):
        port = services[name]["environment"]["METRICS_PORT"]
        assert targets[f"tradingplatform-{name}"] == [f"{name}:{port}"]
    for job in scrape["scrape_configs"]:
        assert job["authorization"]["credentials_file"] == "/run/secrets/metrics_token"
    assert services["web"]["environment"]["METRICS_SERVE_STATE"] == "true"
    assert "METRICS_SERVE_STATE" not in services["worker"]["environment"]
    assert (
        services["worker"]["environment"]["PROMETHEUS_MULTIPROC_DIR"] in services["worker"]["tmpfs"]
    )
    mounts = grafana["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in mounts
    dashboards = next(m for m in mounts if m.startswith("./deploy/grafana/dashboards:"))
    provider = yaml.safe_load(
        (REPO / "deploy/grafana/provisioning/dashboards/tradingplatform.yml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == dashboards.split(":")[1]
    datasource = yaml.safe_load(
        (REPO / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090" and datasource["uid"] == "prometheus"
