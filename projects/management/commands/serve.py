"""Run the whole product: a WSGI web server and a supervised django-q2 cluster, stopped
together.

The cluster is watched through the worker heartbeat (``runs.heartbeat``): ``serve`` starts it
with its own ``EVALSITE_CLUSTER_ID``, which its workers write into their heartbeat rows, and
enqueues a ping task every ``EVALSITE_WORKER_PING_SECONDS``. When work waits and no worker of
this cluster has beaten for ``EVALSITE_WORKER_STALE_SECONDS`` (a wedged cluster: django-q2
issue #23) -- whether or not other clusters on the same database still beat -- or the cluster
process exited, it restarts the cluster and says so in the log. The new cluster sweeps as it
starts (``qcluster``): rows whose leases ran out are re-queued and runs whose messages died
with the old cluster get new drainers or are planned.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
import uuid

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

log = logging.getLogger("evalsite.serve")

CHECK_INTERVAL_SECONDS = 1.0
STOP_GRACE_SECONDS = 15
# A cluster restarted for a stale heartbeat has no worker doing anything worth waiting for
# (busy drainers beat), and a wedged one never finishes stopping on SIGTERM.
RESTART_GRACE_SECONDS = 5
# A starting cluster beats once it is up (``qcluster``: imports, then a sweep, which may plan
# big runs); until then it is judged only after this long, or the stale time if longer.
STARTUP_SECONDS = 120


class ClusterSupervisor:
    """One ``manage.py qcluster`` child in its own process group, restarted when stuck."""

    def __init__(self, command: list[str], *, cwd):
        self.command = command
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.next_ping = 0.0
        self.next_check = 0.0
        self.restarts = 0
        self.cluster_id = ""

    def start(self) -> None:
        from runs import heartbeat

        # A fresh id per start: only this cluster's workers beat under it.
        self.cluster_id = uuid.uuid4().hex[:12]
        env = {**os.environ, heartbeat.CLUSTER_ID_ENV: self.cluster_id}
        # A session of its own, so a restart can SIGKILL the cluster with all its workers.
        self.proc = subprocess.Popen(self.command, cwd=self.cwd, env=env, start_new_session=True)
        self.started_at = time.monotonic()
        self.next_ping = self.started_at  # the first ping proves the new cluster works

    def stop(self, *, grace: float = STOP_GRACE_SECONDS) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=grace)
        # Whatever is left (a wedged cluster, orphaned workers) goes with its process group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)

    def restart(self, reason: str) -> None:
        self.restarts += 1
        log.warning("restarting the worker cluster (restart %d): %s", self.restarts, reason)
        self.stop(grace=RESTART_GRACE_SECONDS)
        self.start()
        # The new cluster sweeps before it starts its workers (``qcluster``): what the old one
        # held is taken back now, not at the new scheduler's first pass (~30 s).
        log.warning("worker cluster restarted (pid %s, id %s)", self.proc.pid, self.cluster_id)

    def check(self) -> None:
        """Called often from the main loop; does real work about once a second."""
        from runs import heartbeat

        now = time.monotonic()
        if now < self.next_check:
            return
        self.next_check = now + CHECK_INTERVAL_SECONDS
        if self.proc.poll() is not None:
            self.restart(f"the cluster process exited with code {self.proc.returncode}")
            return
        close_old_connections()
        try:
            if now >= self.next_ping:
                self.next_ping = now + heartbeat.ping_seconds()
                heartbeat.enqueue_ping()
            status = heartbeat.worker_status(cluster=self.cluster_id)
        except Exception as exc:  # database or broker down: /healthz reports it; keep going
            log.warning("cannot check the worker heartbeat: %s: %s", type(exc).__name__, exc)
            return
        # A fresh cluster gets a full stale period to answer its first ping, counted from its
        # start beat (its age), and has STARTUP_SECONDS to get that far.
        starting = max(STARTUP_SECONDS, status.stale_after_seconds)
        if status.age_seconds is None and now - self.started_at < starting:
            return
        if status.stale and now - self.started_at > status.stale_after_seconds:
            age = "never" if status.age_seconds is None else f"{status.age_seconds:.0f} s ago"
            self.restart(
                f"work is waiting and no worker of this cluster has beaten for over "
                f"{status.stale_after_seconds} s (its last heartbeat: {age})"
            )


class Command(BaseCommand):
    help = "Start the web server (gunicorn) and a supervised django-q2 cluster; Ctrl-C stops both."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument(
            "--web-workers", type=int, default=int(os.environ.get("WEB_WORKERS", "2"))
        )
        parser.add_argument(
            "--web-threads", type=int, default=int(os.environ.get("WEB_THREADS", "8"))
        )
        parser.add_argument("--no-worker", action="store_true", help="Web server only.")
        parser.add_argument(
            "--no-web", action="store_true", help="Only the supervised cluster (worker machines)."
        )

    def handle(self, *args, host, port, web_workers, web_threads, no_worker, no_web, **options):
        if no_web and no_worker:
            raise CommandError("--no-web and --no-worker leave nothing to run.")
        python = sys.executable
        manage = str(settings.BASE_DIR / "manage.py")
        web_cmd = [
            python, "-m", "gunicorn", "evalsite.wsgi:application",
            "--bind", f"{host}:{port}",
            "--workers", str(web_workers),
            "--threads", str(web_threads),
            "--worker-class", "gthread",
            "--timeout", "120",
            # Clients (pydo, the CLI) reuse connections; with gunicorn's 2 s default a busy
            # worker could close one just as the client sent its next request on it.
            "--keep-alive", os.environ.get("WEB_KEEPALIVE", "30"),
            "--access-logfile", "-",
        ]  # fmt: skip
        web = None if no_web else subprocess.Popen(web_cmd, cwd=settings.BASE_DIR)
        cluster = None
        if not no_worker:
            cluster = ClusterSupervisor([python, manage, "qcluster"], cwd=settings.BASE_DIR)
            cluster.start()
        where = "workers only" if web is None else f"on http://{host}:{port}/"
        self.stdout.write(self.style.SUCCESS(f"evalsite is running {where} (Ctrl-C stops it)"))

        def stop(*_):
            if web is not None and web.poll() is None:
                web.send_signal(signal.SIGTERM)
            if cluster is not None:
                cluster.stop(grace=20)
            if web is not None:
                try:
                    web.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    web.kill()

        signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(0)))
        try:
            while web is None or web.poll() is None:
                if cluster is not None:
                    cluster.check()
                time.sleep(0.2)
            self.stderr.write(f"the web server exited (code {web.returncode}); stopping")
        except KeyboardInterrupt:
            self.stdout.write("stopping…")
        finally:
            stop()
