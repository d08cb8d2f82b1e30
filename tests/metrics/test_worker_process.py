"""A real Celery worker process as compose runs it: prefork pool, Redis broker, its metrics
server on METRICS_PORT with the token, and the pool's processes summed through
PROMETHEUS_MULTIPROC_DIR."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from celery import Celery
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
TOKEN = "worker-metrics-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pings(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "tradingplatform_celery_tasks_total" and sample.labels == {
                "task": "core.ping",
                "state": "SUCCESS",
            }:
                return sample.value
    return 0.0


@pytest.mark.redis
def test_prefork_worker_serves_the_sum_of_its_pool_on_its_metrics_port(
    tmp_path: Path, redis_url: str
) -> None:
    port = _free_port()
    multiproc = tmp_path / "multiproc"
    multiproc.mkdir()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))}
    env = {
        **base,
        "DJANGO_SETTINGS_MODULE": "tradingplatform.settings.dev",
        "TRADINGPLATFORM_ENV_FILE": "",
        "DJANGO_SECRET_KEY": "worker-metrics-test-key-not-secret-0123456789abcdef",
        "SQLITE_PATH": str(tmp_path / "db.sqlite3"),
        "REDIS_URL": redis_url,
        "METRICS_PORT": str(port),
        "METRICS_ADDR": "127.0.0.1",
        "METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tradingplatform",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            "2",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "WARNING",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    client = Celery(broker=redis_url, backend=redis_url, set_as_current=False)
    url = f"http://127.0.0.1:{port}/metrics"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        results = [client.send_task("core.ping", args=[f"p{i}"]) for i in range(4)]
        assert [r.get(timeout=60)["pong"] for r in results] == ["p0", "p1", "p2", "p3"]
        deadline = time.monotonic() + 30  # a safety net, not a timing assertion
        answer = None
        while time.monotonic() < deadline:
            assert worker.poll() is None, worker.communicate()[1][-3000:]
            try:
                answer = requests.get(url, headers=auth, timeout=5)
                if answer.status_code == 200 and _pings(answer.text) == 4:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        assert answer is not None and answer.status_code == 200
        assert _pings(answer.text) == 4  # run by the pool's processes, summed by the parent
        assert requests.get(url, timeout=5).status_code == 401
        assert len(list(multiproc.glob("*.db"))) >= 1
    finally:
        client.close()
        worker.terminate()
        try:
            worker.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.communicate()
