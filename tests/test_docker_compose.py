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
