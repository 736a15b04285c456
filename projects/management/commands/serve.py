"""Run the whole product: a WSGI web server and a django-q2 cluster, stopped together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Start the web server (gunicorn) and the django-q2 cluster; Ctrl-C stops both."

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

    def handle(self, *args, host, port, web_workers, web_threads, no_worker, **options):
        python = sys.executable
        manage = str(settings.BASE_DIR / "manage.py")
        children: list[subprocess.Popen] = []
        web_cmd = [
            python, "-m", "gunicorn", "evalsite.wsgi:application",
            "--bind", f"{host}:{port}",
            "--workers", str(web_workers),
            "--threads", str(web_threads),
            "--worker-class", "gthread",
            "--timeout", "120",
            "--access-logfile", "-",
        ]  # fmt: skip
        children.append(subprocess.Popen(web_cmd, cwd=settings.BASE_DIR))
        if not no_worker:
            children.append(subprocess.Popen([python, manage, "qcluster"], cwd=settings.BASE_DIR))
        self.stdout.write(
            self.style.SUCCESS(f"evalsite is running on http://{host}:{port}/ (Ctrl-C stops it)")
        )

        def stop(*_):
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 20
            for child in children:
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()

        signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(0)))
        try:
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
            failed = [c for c in children if c.poll() is not None]
            self.stderr.write(f"a child process exited ({failed[0].args[:3]}); stopping the rest")
        except KeyboardInterrupt:
            self.stdout.write("stopping…")
        finally:
            stop()
