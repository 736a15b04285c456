"""The sweeper (django-q2 schedules, about every 30 s): what makes crashes and lost broker
messages harmless.

- claimed tasks whose lease expired go back to pending (or fail after too many attempts).
  Live drainers renew their leases several times per lease (``claims.LeaseKeeper``), so an
  expired lease means its owner stopped renewing: died, was killed, or hangs;
- running runs with pending rows and no progress for a while get new drainers;
- pending runs whose planning message was lost are planned here, by the sweeper itself (a
  new message could be lost the same way), ``EVALSITE_RUN_REPLAN_SECONDS`` after queueing;
- runs with nothing left to do are finished.
It costs one indexed query when no run is active.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone

from runs.engine import conf, sql
from runs.engine.enqueue import enqueue_drainers
from runs.engine.finish import try_finish
from runs.engine.planning import plan_run
from runs.models import ACTIVE_RUN_STATUSES, EvaluationRun, RunStatus, RunTask, TaskStatus

log = logging.getLogger(__name__)

GAVE_UP = (
    "Gave up after {n} attempts: the worker processing this row stopped each time "
    "(crash, kill or timeout)."
)


def requeue_expired_leases(now=None) -> dict:
    """Expired claims -> pending (or failed once out of attempts). Returns {run_id: count}."""
    now = now or timezone.now()
    max_attempts = conf.max_task_attempts()
    expired = RunTask.objects.filter(status=TaskStatus.CLAIMED, lease_expires_at__lt=now)
    per_run = dict(
        expired.order_by().values_list("run_id").annotate(n=Count("id")).values_list("run_id", "n")
    )
    for run_id in per_run:
        failed, requeued = _requeue_run(run_id, now=now, max_attempts=max_attempts)
        log.warning(
            "run %s: %d expired lease(s) re-queued, %d failed after %d attempts",
            run_id,
            requeued,
            failed,
            max_attempts,
        )
    return per_run


@sql.retry_on_deadlock
@transaction.atomic
def _requeue_run(run_id, *, now, max_attempts: int) -> tuple[int, int]:
    """One run's expired claims: task rows first, the run's counters last (the lock order)."""
    run_expired = RunTask.objects.filter(
        run_id=run_id, status=TaskStatus.CLAIMED, lease_expires_at__lt=now
    )
    failed = run_expired.filter(attempts__gte=max_attempts).update(
        status=TaskStatus.FAILED,
        error=GAVE_UP.format(n=max_attempts),
        finished_at=now,
        lease_expires_at=None,
    )
    requeued = run_expired.update(status=TaskStatus.PENDING, lease_expires_at=None)
    if failed:
        EvaluationRun.objects.filter(id=run_id).update(failed_tasks=F("failed_tasks") + failed)
    return failed, requeued


def sweep(now=None) -> dict:
    """One pass; returns what it did (for logs and tests)."""
    now = now or timezone.now()
    done = {"requeued": {}, "replanned": [], "redrained": [], "finished": []}
    active = list(
        EvaluationRun.objects.filter(status__in=ACTIVE_RUN_STATUSES).values_list(
            "id", "status", "queued_at", "last_progress_at"
        )
    )
    if not active:
        return done
    done["requeued"] = requeue_expired_leases(now)
    stall = timedelta(seconds=conf.stall_seconds())
    replan = timedelta(seconds=conf.replan_seconds())
    for run_id, status, queued_at, last_progress_at in active:
        if status == RunStatus.PENDING:
            if queued_at < now - replan:
                log.warning("run %s: still pending after %s; planning it now", run_id, replan)
                plan_run(run_id)
                done["replanned"].append(run_id)
            continue
        tasks = RunTask.objects.filter(run_id=run_id)
        if sql.retry_on_deadlock(try_finish)(run_id):
            done["finished"].append(run_id)
            continue
        if status != RunStatus.RUNNING or tasks.filter(status=TaskStatus.CLAIMED).exists():
            continue
        quiet_since = last_progress_at or queued_at
        if quiet_since < now - stall and tasks.filter(status=TaskStatus.PENDING).exists():
            EvaluationRun.objects.filter(id=run_id).update(last_progress_at=now)
            enqueue_drainers(run_id)
            done["redrained"].append(run_id)
    return done
