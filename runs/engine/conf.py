"""Engine tuning, read from the environment at call time (so tests and benchmarks can set it
per process)."""

from __future__ import annotations

from django.conf import settings

from evalsite.env import env_bool, env_int


def drainer_concurrency() -> int:
    """The most agent calls one drainer keeps in flight. One drainer's event loop spends
    ~1 ms of CPU per call, so a few hundred calls a second are one process's share; an agent
    that allows more gets more drainers (spread over every worker of every cluster)."""
    return max(1, env_int("EVALSITE_RUN_DRAINER_CONCURRENCY", 100))


# Never more drainers for one run than this, whatever the workers or the agent allow.
MAX_DRAINERS = 32


def workers_available() -> int:
    """Worker processes that can work a run now: this cluster's workers, or the workers of
    every cluster that beat recently (runs.heartbeat) when that is more."""
    from datetime import timedelta

    from django.utils import timezone

    from runs.heartbeat import stale_seconds
    from runs.models import WorkerHeartbeat

    own = int(settings.Q_CLUSTER.get("workers") or 1)
    since = timezone.now() - timedelta(seconds=stale_seconds())
    beating = WorkerHeartbeat.objects.filter(beaten_at__gte=since).count()
    return max(1, min(max(own, beating), MAX_DRAINERS))


def drainer_count(*, calls_workflows: bool = False, max_concurrency: int = 0) -> int:
    """How many drainer tasks work one run.

    Dataset-only runs are CPU work: as many drainers as there are workers to run them.
    A run that calls workflows mostly waits on the agent: one drainer holds up to
    ``drainer_concurrency()`` calls (one event loop keeps them busy where several drainers
    each holding a small fixed share idle whenever their process is slow: measured 1.16x
    ideal with one drainer at 50, 1.25x with two at 25 each), so an agent allowing more gets
    ``ceil(max_concurrency / drainer_concurrency())`` drainers, each holding its share of
    the agent's limit. Drainers beyond the free workers wait in the queue and are picked up
    by any cluster's worker (``EVALSITE_RUN_DRAINERS`` / ``EVALSITE_RUN_WORKFLOW_DRAINERS``
    fix the count instead).
    """
    if calls_workflows:
        fixed = env_int("EVALSITE_RUN_WORKFLOW_DRAINERS", 0)
        if fixed > 0:
            return fixed
        wanted = -(-max(1, max_concurrency) // drainer_concurrency())
        return max(1, min(wanted, MAX_DRAINERS))
    fixed = env_int("EVALSITE_RUN_DRAINERS", 0)
    return fixed if fixed > 0 else workers_available()


def drainer_count_for(run) -> int:
    """``drainer_count`` for a run (an EvaluationRun or its id); 0 when it is gone."""
    from runs.models import EvaluationRun, RunEntry, RunMode

    if not isinstance(run, EvaluationRun):
        run = EvaluationRun.objects.filter(id=run).only("id", "mode").first()
        if run is None:
            return 0
    if run.mode != RunMode.WITH_WORKFLOW:
        return drainer_count()
    entries = RunEntry.objects.filter(run_id=run.id, workflow_version__isnull=False)
    concurrency = max(
        (e.workflow_version.max_concurrency for e in entries.select_related("workflow_version")),
        default=1,
    )
    return drainer_count(calls_workflows=True, max_concurrency=concurrency)


def batch_size(*, calls_workflows: bool) -> int:
    if calls_workflows:
        return max(1, env_int("EVALSITE_RUN_WORKFLOW_BATCH_SIZE", 100))
    return max(1, env_int("EVALSITE_RUN_BATCH_SIZE", 500))


def lease_seconds() -> int:
    """How long a claimed batch belongs to its drainer before the sweeper re-queues it."""
    return max(1, env_int("EVALSITE_RUN_LEASE_SECONDS", 120))


def drain_budget_seconds() -> float:
    """A drainer hands over to a successor after this long, well inside django-q's timeout."""
    timeout = getattr(settings, "Q_TIMEOUT", 600)
    default = max(5, int(timeout * 0.5))
    return float(min(max(1, env_int("EVALSITE_RUN_DRAIN_BUDGET", default)), default))


def stall_seconds() -> int:
    """A running run with pending rows and no progress for this long gets new drainers."""
    return max(1, env_int("EVALSITE_RUN_STALL_SECONDS", 90))


def replan_seconds() -> int:
    """A run still pending this long after it was queued lost its planning message (or it is
    stuck behind busy workers): the sweeper plans it itself. Planning is idempotent."""
    return max(1, env_int("EVALSITE_RUN_REPLAN_SECONDS", 15))


def row_locks() -> bool:
    """PostgreSQL, dataset-only runs without caps: lease rows by row locks inside the batch's
    transaction and write each row once (``EVALSITE_RUN_ROW_LOCKS=1``). Off by default: rows
    leased that way count no attempt before they are written, so a row that kills its worker
    every time is retried without end instead of failing after EVALSITE_RUN_TASK_MAX_ATTEMPTS,
    and on this machine it measured no faster than the claim."""
    return env_bool("EVALSITE_RUN_ROW_LOCKS", False)


def max_task_attempts() -> int:
    """A row whose lease expired this many times (its worker died each time) fails."""
    return max(1, env_int("EVALSITE_RUN_TASK_MAX_ATTEMPTS", 3))
