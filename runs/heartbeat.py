"""Worker liveness, recorded in the database.

A django-q2 cluster can be alive and still do nothing: when the worker next in line for the
task queue dies holding the queue's lock, every other worker waits on that lock forever
(django-q2 issue #23) while the cluster's own process keeps looking healthy. So liveness is
measured where work happens: every worker that does engine work writes a heartbeat row —
drainers each time they renew their leases, the sweeper every minute, the ping task that
``manage.py serve`` enqueues every ``EVALSITE_WORKER_PING_SECONDS``, and a cluster's main
process once as it starts (``qcluster``: a cluster slow to start is not taken for a stuck
one). The workers are stale when work is waiting (an active run, or messages in the broker)
and the newest beat is older than ``EVALSITE_WORKER_STALE_SECONDS``.

Two readers, two scopes. ``/healthz`` and ``check_workers`` judge the site: any worker of any
cluster beating means work gets done, so they answer 503 only when every worker is stuck.
``serve`` judges its own cluster: it starts it with ``EVALSITE_CLUSTER_ID`` set, its workers
write that id into their rows, and it restarts the cluster when none of them has beaten for
the stale time while work waits, even though other clusters (other hosts, other ``serve``s)
still beat. The pings every ``serve`` enqueues go to whichever cluster takes them first, so
each healthy cluster answers its share; one that answered none for the whole stale time holds
no rows either (a drainer beats at least every 30 s), so restarting it loses nothing.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Max
from django.utils import timezone

from evalsite.env import env_int

log = logging.getLogger(__name__)

PRUNE_AFTER = timedelta(days=1)


def stale_seconds() -> int:
    """No beat for this long while work waits means the workers are stuck."""
    return max(2, env_int("EVALSITE_WORKER_STALE_SECONDS", 180))


def ping_seconds() -> int:
    """How often ``manage.py serve`` enqueues a ping task for the workers to answer."""
    return max(1, env_int("EVALSITE_WORKER_PING_SECONDS", 20))


CLUSTER_ID_ENV = "EVALSITE_CLUSTER_ID"


def worker_name() -> str:
    return f"{socket.gethostname()[:80]}:{os.getpid()}"


def cluster_id() -> str:
    """The id ``manage.py serve`` gave this process's cluster ("" for a bare ``qcluster``)."""
    return os.environ.get(CLUSTER_ID_ENV, "")[:40]


def record_beat(*, source: str) -> None:
    """This worker process is alive and doing work (one upsert of its own row)."""
    from runs.models import WorkerHeartbeat

    WorkerHeartbeat.objects.update_or_create(
        worker=worker_name(),
        defaults={"source": source, "beaten_at": timezone.now(), "cluster": cluster_id()},
    )


def ping() -> None:
    """The ping task: answering it proves the broker, the pusher and a worker all work. Also
    forgets processes that have not beaten for a day."""
    from runs.models import WorkerHeartbeat

    record_beat(source="ping")
    WorkerHeartbeat.objects.filter(beaten_at__lt=timezone.now() - PRUNE_AFTER).delete()


def enqueue_ping() -> None:
    from django_q.tasks import async_task

    async_task("runs.tasks.worker_ping", task_name="worker-ping", save=False)


def last_beat(*, cluster: str | None = None) -> datetime | None:
    """The newest beat of any worker, or of one cluster's workers."""
    from runs.models import WorkerHeartbeat

    beats = WorkerHeartbeat.objects.all()
    if cluster is not None:
        beats = beats.filter(cluster=cluster)
    return beats.aggregate(last=Max("beaten_at"))["last"]


def queued_messages() -> int | None:
    """Messages waiting in the broker (None when the broker cannot say)."""
    try:
        from django_q.brokers import get_broker

        return int(get_broker().queue_size() or 0)
    except Exception:  # the broker check of /healthz reports an unreachable broker
        return None


def waiting_work() -> tuple[bool, datetime | None]:
    """Whether work waits, and since when (the oldest active run's queue time; None when
    only broker messages wait, whose age the broker cannot tell)."""
    from django.db.models import Min

    from runs.models import ACTIVE_RUN_STATUSES, EvaluationRun

    since = EvaluationRun.objects.filter(status__in=ACTIVE_RUN_STATUSES).aggregate(
        since=Min("queued_at")
    )["since"]
    if since is not None:
        return True, since
    return bool(queued_messages()), None


def work_waiting() -> bool:
    return waiting_work()[0]


@dataclass
class WorkerStatus:
    last_beat: datetime | None
    age_seconds: float | None
    stale_after_seconds: int
    work_waiting: bool
    waiting_seconds: float | None = None

    @property
    def stale(self) -> bool:
        """Work waits and no worker has beaten for the stale time -- counted from the newest
        beat, or from when the work started waiting if that is later: a cluster that has just
        started has had no chance to beat yet (a fresh install has no beat at all)."""
        if not self.work_waiting:
            return False
        quiet = [a for a in (self.age_seconds, self.waiting_seconds) if a is not None]
        return bool(quiet) and min(quiet) > self.stale_after_seconds

    def as_dict(self) -> dict:
        return {
            "ok": not self.stale,
            "last_heartbeat": self.last_beat.isoformat() if self.last_beat else None,
            "heartbeat_age_seconds": None
            if self.age_seconds is None
            else round(self.age_seconds, 1),
            "stale_after_seconds": self.stale_after_seconds,
            "work_waiting": self.work_waiting,
            "work_waiting_seconds": None
            if self.waiting_seconds is None
            else round(self.waiting_seconds, 1),
        }


def worker_status(*, cluster: str | None = None) -> WorkerStatus:
    """The site's workers (any cluster), or only ``cluster``'s (what ``serve`` watches)."""
    now = timezone.now()
    beat = last_beat(cluster=cluster)
    age = None if beat is None else max(0.0, (now - beat).total_seconds())
    waiting, since = waiting_work()
    waited = None if since is None else max(0.0, (now - since).total_seconds())
    return WorkerStatus(beat, age, stale_seconds(), waiting, waited)
