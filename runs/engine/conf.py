"""Engine tuning, read from the environment at call time (so tests and benchmarks can set it
per process)."""

from __future__ import annotations

from django.conf import settings

from evalsite.env import env_int


def drainer_count(*, calls_workflows: bool = False) -> int:
    """How many drainer tasks work one run at once.

    Scoring stored rows is CPU work, so dataset-only runs use several drainers (processes).
    A run that calls workflows mostly waits on the agent: one drainer's event loop keeps the
    agent's whole max concurrency busy, where several would each hold a fixed share of it and
    idle whenever their process is slow (measured: 1.16x ideal with one, 1.25x with two).
    """
    if calls_workflows:
        return max(1, env_int("EVALSITE_RUN_WORKFLOW_DRAINERS", 1))
    return max(1, env_int("EVALSITE_RUN_DRAINERS", 2))


def drainer_count_for(mode: str) -> int:
    from runs.models import RunMode

    return drainer_count(calls_workflows=mode == RunMode.WITH_WORKFLOW)


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


def max_task_attempts() -> int:
    """A row whose lease expired this many times (its worker died each time) fails."""
    return max(1, env_int("EVALSITE_RUN_TASK_MAX_ATTEMPTS", 3))
