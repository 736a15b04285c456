"""Start real processes for integration tests: the web server, a django-q2 cluster, and
throwaway HTTP servers on 127.0.0.1. Each is stopped by the fixture that started it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_url_for_tests() -> str:
    """The Redis database the broker tests may flush: ``EVALSITE_TEST_REDIS_URL`` (db 11 by
    default), moved up by one per pytest-xdist worker so parallel workers never share one."""
    url = os.environ.get("EVALSITE_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return url
    base, _, db = url.rpartition("/")
    return f"{base}/{int(db or 0) + int(worker[2:])}"


def database_url_for_tests() -> str:
    """A DATABASE_URL pointing child processes at the database the tests are using."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return ""  # children get EVALSITE_SQLITE_PATH instead
    user = settings.get("USER") or ""
    password = settings.get("PASSWORD") or ""
    auth = user + (f":{password}" if password else "")
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{settings['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    """Environment for a child process that shares this test run's database."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["DJANGO_SETTINGS_MODULE"] = "evalsite.settings"
    env["PYTHONUNBUFFERED"] = "1"
    url = database_url_for_tests()
    if url:
        env["DATABASE_URL"] = url
    else:
        env["EVALSITE_SQLITE_PATH"] = str(connection.settings_dict["NAME"])
    env.update(extra)
    return env


def wait_until(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.1,
    message: str = "condition",
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {message}")


def _stop(proc: subprocess.Popen, *, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    if proc.poll() is not None:
        return
    # Signal the main process only: it stops its own children in order (a qcluster whose
    # workers all receive SIGTERM at once hangs until the SIGKILL below).
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=timeout)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the group
    proc.wait(timeout=5)


class ManagedProcess:
    def __init__(self, args: list[str], env: dict[str, str], log_path: Path):
        self.args = args
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            self.args,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def stop(self, *, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None:
            _stop(self.proc, sig=sig)

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def output_dir() -> Path:
    path = ROOT / "test-output"
    path.mkdir(exist_ok=True)
    return path


@contextlib.contextmanager
def qcluster(**env: str) -> Iterator[ManagedProcess]:
    """A real ``manage.py qcluster`` against the test database."""
    name = env.pop("log_name", "qcluster")
    proc = ManagedProcess(
        [sys.executable, "manage.py", "qcluster"],
        child_env(**env),
        output_dir() / f"{name}-{os.getpid()}-{time.time_ns()}.log",
    ).start()
    try:
        yield proc
    finally:
        proc.stop()


@contextlib.contextmanager
def web_server(**env: str) -> Iterator[str]:
    """The real WSGI server (gunicorn) on a free loopback port; yields its base URL."""
    port = free_port()
    proc = ManagedProcess(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "evalsite.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            "8",
            "--worker-class",
            "gthread",
            "--timeout",
            "120",
            # As `manage.py serve`: gunicorn's 2 s default closed a keep-alive connection the
            # client was already reusing when the loaded test machine stalled the worker's
            # poller (pydo's POST: "Remote end closed connection without response").
            "--keep-alive",
            "30",
        ],
        child_env(**env),
        output_dir() / f"web-{os.getpid()}-{port}.log",
    ).start()
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.proc.poll() is not None:
            raise RuntimeError(f"web server exited:\n{proc.log()}")
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code in (200, 503)
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout=30, message="the web server")
        yield base
    finally:
        proc.stop()
