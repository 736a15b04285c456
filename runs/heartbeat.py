"""Worker liveness, recorded in the database.

A django-q2 cluster can be alive and still do nothing: when the worker next in line for the
task queue dies holding the queue's lock, every other worker waits on that lock forever
(django-q2 issue #23) while the cluster's own process keeps looking healthy. So liveness is
measured where work happens: every worker that does engine work writes a heartbeat row —
drainers each time they renew their leases, the sweeper every minute, and the ping task that
``manage.py serve`` enqueues every ``EVALSITE_WORKER_PING_SECONDS``. The workers are stale when
work is waiting (an active run, or messages in the broker) and the newest beat is older than
``EVALSITE_WORKER_STALE_SECONDS``: ``/healthz`` then answers 503 and ``serve`` restarts its
cluster.
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


def worker_name() -> str:
    return f"{socket.gethostname()[:80]}:{os.getpid()}"


def record_beat(*, source: str) -> None:
    """This worker process is alive and doing work (one upsert of its own row)."""
    from runs.models import WorkerHeartbeat

    WorkerHeartbeat.objects.update_or_create(
        worker=worker_name(), defaults={"source": source, "beaten_at": timezone.now()}
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


def last_beat() -> datetime | None:
    from runs.models import WorkerHeartbeat

    return WorkerHeartbeat.objects.aggregate(last=Max("beaten_at"))["last"]


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


def worker_status() -> WorkerStatus:
    now = timezone.now()
    beat = last_beat()
    age = None if beat is None else max(0.0, (now - beat).total_seconds())
    waiting, since = waiting_work()
    waited = None if since is None else max(0.0, (now - since).total_seconds())
    return WorkerStatus(beat, age, stale_seconds(), waiting, waited)
