"""A real Celery worker process as compose runs it: prefork pool, Redis broker, its metrics
server on METRICS_PORT with the token, and the pool's processes summed through
PROMETHEUS_MULTIPROC_DIR."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import requests
from celery import Celery
from prometheus_client.parser import text_string_to_metric_families

from testsupport.processes import Process, free_port, process_env, wait_until

REPO = Path(__file__).resolve().parents[2]
TOKEN = "worker-metrics-token"


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
    port = free_port()
    multiproc = tmp_path / "multiproc"
    multiproc.mkdir()
    env = process_env(
        servers=True,
        DJANGO_SECRET_KEY="worker-metrics-test-key-not-secret-0123456789abcdef",
        SQLITE_PATH=str(tmp_path / "db.sqlite3"),
        REDIS_URL=redis_url,
        METRICS_PORT=str(port),
        METRICS_ADDR="127.0.0.1",
        METRICS_TOKEN=TOKEN,
        PROMETHEUS_MULTIPROC_DIR=str(multiproc),
    )
    worker = Process(
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
        env=env,
        log=tmp_path / "worker.log",
    )
    worker.start()
    client = Celery(broker=redis_url, backend=redis_url, set_as_current=False)
    url = f"http://127.0.0.1:{port}/metrics"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        results = [client.send_task("core.ping", args=[f"p{i}"]) for i in range(4)]
        assert [r.get(timeout=60)["pong"] for r in results] == ["p0", "p1", "p2", "p3"]

        def summed() -> requests.Response | None:
            worker.alive()
            try:
                answer = requests.get(url, headers=auth, timeout=5)
            except requests.RequestException:
                return None
            return answer if answer.status_code == 200 and _pings(answer.text) == 4 else None

        answer = wait_until("the pool's four pings on the metrics port", summed, within=30)
        assert _pings(answer.text) == 4  # run by the pool's processes, summed by the parent
        assert requests.get(url, timeout=5).status_code == 401
        assert len(list(multiproc.glob("*.db"))) >= 1
    finally:
        client.close()
        worker.stop(grace=30)
