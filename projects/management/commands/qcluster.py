"""django-q2's ``qcluster``, which first sweeps once.

The sweeper's schedules run from a cluster's scheduler, whose first pass comes about 30 s
after the cluster starts. Yet a starting cluster (a deploy, a restart after a crash, ``serve``
replacing a wedged cluster) is when work is most likely to have been lost: runs whose planning
message died with the broker or the old cluster, rows whose worker was killed. So the cluster
runs one sweep (``runs.engine.sweeper``) in its main process before it starts its workers,
beats once (``runs.heartbeat``: the cluster is up; ``serve`` gives a starting cluster the
stale time from here to answer a ping, however long its imports took), then starts as
django-q2's command does. Sweeps are safe to run alongside other clusters' sweeps; when this
one fails (the database is down), the cluster starts anyway and its schedule sweeps later.

This command shadows django-q2's because ``projects`` comes before ``django_q`` in
``INSTALLED_APPS``.
"""

from __future__ import annotations

import logging

from django.db import connections
from django_q.management.commands.qcluster import Command as QclusterCommand

log = logging.getLogger("evalsite.qcluster")


def sweep_at_start() -> None:
    from runs import heartbeat
    from runs.engine import sweeper

    try:
        log.info("swept at cluster start: %s", sweeper.sweep())
        heartbeat.record_beat(source="start")
    except Exception as exc:  # the schedule sweeps again shortly
        log.warning("sweep at cluster start failed: %s: %s", type(exc).__name__, exc)
    finally:
        # The cluster forks its processes from this one: none may inherit this connection.
        connections.close_all()


class Command(QclusterCommand):
    help = "Sweep once (lost messages, expired leases), then start a django-q2 cluster."

    def handle(self, *args, **options):
        sweep_at_start()
        super().handle(*args, **options)
