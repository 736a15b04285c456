"""Liveness probe for worker machines: exit 1 when work waits and no worker has beaten for
``EVALSITE_WORKER_STALE_SECONDS`` (what ``/healthz`` reports as ``workers.ok: false``)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Exit 0 when the workers are alive (or idle), 1 when work waits on stuck workers."

    def handle(self, *args, **options):
        from runs.heartbeat import worker_status

        status = worker_status()
        self.stdout.write(json.dumps(status.as_dict()))
        if status.stale:
            raise CommandError("work is waiting and no worker has beaten recently")
