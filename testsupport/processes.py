"""The processes the tests start as a user or compose would: the platform (``manage.py
runplatform``), a daphne server, a Celery worker, any other long-running command. One place for
their environment, their start (done when they answer, not after a sleep) and their stop.

Each process writes its stderr (and its stdout, unless the caller reads it) to a log file, whose
tail goes into every failure message.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TypeVar

import requests

REPO = Path(__file__).resolve().parents[1]
TEST_FIELD_ENCRYPTION_KEY = "Pv2yJ5M1o0x3Zf6j3Pq2aHn0QqB1Zo8c2sYq9fXzH4k="
# What configures the test run itself; a process started by a test sees only what the test sets.
_RUN_ONLY = ("DJANGO_", "PYTEST")
# What points a process at servers (PostgreSQL, Redis, a broker); the embedded default has none.
_SERVERS = ("DATABASE_URL", "REDIS_URL", "CELERY_")

APP = "tradingplatform.asgi:application"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_env(
    settings_module: str = "tradingplatform.settings.dev", *, servers: bool = False, **extra: str
) -> dict[str, str]:
    """This process's environment for a child: without the test run's own variables, and without
    the servers' addresses unless ``servers``; no ``.env`` file (``TRADINGPLATFORM_ENV_FILE``
    empty) and unbuffered output unless ``extra`` says otherwise."""
    drop = _RUN_ONLY if servers else _RUN_ONLY + _SERVERS
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(
        DJANGO_SETTINGS_MODULE=settings_module, TRADINGPLATFORM_ENV_FILE="", PYTHONUNBUFFERED="1"
    )
    env.update(extra)
    return env


def wait_until(what: str, predicate: Callable[[], T], *, within: float, every: float = 0.2) -> T:
    """``predicate()``'s first truthy value, polled every ``every`` s; an AssertionError naming
    ``what`` after ``within`` s (a safety net against hangs, not a timing assertion)."""
    deadline = time.monotonic() + within
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"gave up waiting for {what} after {within:g} s"
        time.sleep(every)


def answers(url: str, *, headers: dict[str, str] | None = None, status: int = 200) -> bool:
    """Whether ``url`` answers ``status`` now."""
    try:
        return requests.get(url, headers=headers, timeout=3).status_code == status
    except requests.RequestException:
        return False


def listens(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class Process:
    """A child process of the test: ``args`` run in the repository with ``env``, its stderr (and
    its stdout unless ``pipe_stdout``) written to ``log``."""

    def __init__(
        self, args: Sequence[str], *, env: dict[str, str], log: Path, pipe_stdout: bool = False
    ) -> None:
        self.args, self.env, self.log = list(args), env, log
        self.proc: subprocess.Popen[str] | None = None
        self.pipe_stdout = pipe_stdout

    def start(self) -> None:
        with self.log.open("a") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(  # noqa: S603 (the tests' own commands)
                self.args,
                cwd=REPO,
                env=self.env,
                stdout=subprocess.PIPE if self.pipe_stdout else log,
                stderr=log,
                text=True,
            )

    @property
    def stdout(self) -> IO[str]:
        assert self.proc is not None and self.proc.stdout is not None
        return self.proc.stdout

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_text()[-chars:]

    def alive(self) -> None:
        """An AssertionError with the log's tail if the process has exited."""
        assert self.proc is not None, "not started"
        code = self.proc.poll()
        assert code is None, f"{' '.join(self.args[:4])} exited ({code}):\n{self.log_tail()}"

    def wait_ready(self, what: str, ready: Callable[[], bool], *, within: float) -> None:
        def up() -> bool:
            self.alive()
            return ready()

        wait_until(what, up, within=within)

    def stop(self, *, sig: int = signal.SIGTERM, grace: float = 15) -> int | None:
        """Send ``sig``, wait up to ``grace`` s for the exit, then kill; the exit code, or None
        where it had to be killed."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        finally:
            if self.proc.stdout is not None:
                self.proc.stdout.close()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


class Daphne(Process):
    """``python -m <module> -b 127.0.0.1 -p <port> tradingplatform.asgi:application``: daphne
    itself, or the project's redacting wrapper (``apps.core.daphne_server``), as compose runs it.
    """

    def __init__(self, *, env: dict[str, str], log: Path, module: str = "daphne") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(
            [sys.executable, "-m", module, "-b", "127.0.0.1", "-p", str(self.port), APP],
            env=env,
            log=log,
        )

    def start(self, *, within: float = 90) -> None:
        """Start and wait until it listens."""
        super().start()
        self.wait_ready(
            f"daphne listening on {self.port}", lambda: listens(self.port), within=within
        )

    def stop(self, *, sig: int = signal.SIGTERM, grace: float = 1) -> int | None:
        # daphne takes seconds to exit on SIGTERM (about 10 s on a loaded machine); no test
        # here checks its exit, so it is killed after ``grace``
        return super().stop(sig=sig, grace=grace)


class Platform(Process):
    """``manage.py runplatform`` as a user starts it (``make run``). Its stdout is read here: the
    start's lines up to "serving on" (the start's last line), then at the stop the rest."""

    def __init__(self, *, env: dict[str, str], log: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(
            [sys.executable, "manage.py", "runplatform", "--port", str(self.port)],
            env=env,
            log=log,
            pipe_stdout=True,
        )

    def start(self, *, within: float = 180) -> str:  # type: ignore[override]
        """Start and wait until /health/ answers 200; the start's output (up to "serving on")."""
        super().start()
        deadline = time.monotonic() + within
        lines: list[str] = []
        while not lines or not lines[-1].startswith("serving on"):
            line = self.stdout.readline()
            assert line, f"runplatform exited:\n{''.join(lines)}\n{self.log_tail()}"
            lines.append(line)
        self.wait_ready(
            "a healthy platform (/health/ 200)",
            lambda: answers(f"{self.url}/health/"),
            within=max(1.0, deadline - time.monotonic()),
        )
        return "".join(lines)

    def interrupt(self, *, within: float = 30) -> tuple[float, str]:
        """Ctrl-C: the seconds until it exited and what it wrote to stdout after the start."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        rest, _ = self.proc.communicate(timeout=within)
        return time.monotonic() - started, rest

    def stop(self, *, sig: int = signal.SIGINT, grace: float = 20) -> int | None:
        return super().stop(sig=sig, grace=grace)  # runplatform's own quick stop
