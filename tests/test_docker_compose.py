"""docker-compose.yml: no Docker engine here, so the file is parsed and checked."""

from __future__ import annotations

import re
import subprocess
import sys
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
    compose_text = (REPO / "docker-compose.yml").read_text()  # compose's own ${NAME} from .env
    for name in names:
        read = f'"{name}"' in settings_text or f"${{{name}" in compose_text
        assert read, f"{name} in .env.example is read nowhere"
    assert {"DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEY", "DATABASE_URL", "REDIS_URL"} <= names


def test_compose_with_platform_processes_restarts_each_one() -> None:
    """A Celery worker exits on some broker losses (kombu: an unrecoverable error when Redis
    restarts, seen in benchmarks/chaos.py): the supervisor must start it again."""
    services = _compose()["services"]
    for name in ("web", "worker", "beat", "telegrambot", "postgres", "redis"):
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


def test_compose_with_telegram_bot_runs_one_poller_as_the_worker_runs() -> None:
    """The Telegram commands and the notification outbox need `manage.py telegrambot` running
    somewhere: in production that is its own service, built and configured as the worker."""
    services = _compose()["services"]
    bot, worker = services["telegrambot"], services["worker"]
    assert bot["command"] == ["python", "manage.py", "telegrambot"]
    assert (bot["image"], str(bot["build"]), bot["env_file"]) == (
        worker["image"],
        str(worker["build"]),
        worker["env_file"],
    )
    for name in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL"):
        assert bot["environment"][name] == worker["environment"][name], name
    assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert bot["depends_on"]["redis"]["condition"] == "service_healthy"
    assert bot.get("restart") in ("always", "unless-stopped")
    assert "manage.py telegrambot" in " ".join(bot["healthcheck"]["test"])
    assert "deploy" not in bot or bot["deploy"].get("replicas", 1) == 1  # one poller only
    pollers = [n for n, s in services.items() if "telegrambot" in str(s.get("command", ""))]
    assert pollers == ["telegrambot"]


def test_compose_with_grafana_wants_an_admin_password_from_env_and_no_anonymous_access() -> None:
    grafana = _compose()["services"]["grafana"]
    env = grafana["environment"]
    # `${VAR:?message}`: compose refuses to start while GRAFANA_ADMIN_PASSWORD is unset or empty
    assert re.fullmatch(r"\$\{GRAFANA_ADMIN_PASSWORD:\?[^}]+\}", env["GF_SECURITY_ADMIN_PASSWORD"])
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert "env_file" not in grafana  # the platform's secrets stay out of Grafana
    assert grafana["ports"] == ["127.0.0.1:3000:3000"]


def test_make_env_writes_a_grafana_password_and_adds_one_to_an_older_file(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.env"
    subprocess.run([sys.executable, "scripts/make_env.py", str(fresh)], cwd=REPO, check=True)
    (password,) = re.findall(r"^GRAFANA_ADMIN_PASSWORD=(.+)$", fresh.read_text(), re.M)
    assert len(password) >= 20 and password != "admin"

    older = tmp_path / "older.env"
    older.write_text("DJANGO_SECRET_KEY=x\nWEBHOOK_SECRET=y\nMETRICS_TOKEN=z\n")
    subprocess.run([sys.executable, "scripts/make_env.py", str(older)], cwd=REPO, check=True)
    text = older.read_text()
    assert text.startswith("DJANGO_SECRET_KEY=x\nWEBHOOK_SECRET=y\nMETRICS_TOKEN=z\n")
    (added,) = re.findall(r"^GRAFANA_ADMIN_PASSWORD=(.+)$", text, re.M)
    assert added != password

    subprocess.run([sys.executable, "scripts/make_env.py", str(older)], cwd=REPO, check=True)
    assert older.read_text() == text  # never overwritten
