"""Finishing a run exactly once, with its run-level summaries and pass status.

Whoever notices that nothing is left to do (a drainer leaving, the sweeper, a cancel) calls
``try_finish``; the run row is locked (PostgreSQL) or the write lock held (SQLite IMMEDIATE)
and the final status is set by a conditional update, so only one caller ever finishes it.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from runs.engine import sql
from runs.models import (
    EvaluationRun,
    MetricBinding,
    MetricResult,
    RunPhase,
    RunStatus,
    RunTask,
    TaskStatus,
)
from runs.signals import run_finished

log = logging.getLogger(__name__)


def compute_summaries(run: EvaluationRun) -> tuple[dict, bool | None]:
    """{binding id: summary} for every metric binding, and the star metric's pass status."""
    from metrics.aggregation import passes, summarize

    summaries: dict[str, dict] = {}
    pass_status = None
    bindings = MetricBinding.objects.filter(run=run).select_related("metric_version__metric")
    for binding in bindings:
        metric = binding.metric_version.metric
        is_star = binding.id == run.star_binding_id
        column = "number_value" if metric.is_numeric else "string_value"
        values = []
        errors = 0
        rows = MetricResult.objects.filter(binding=binding).values_list(column, "error_description")
        for value, error in rows.iterator(chunk_size=10_000):
            if error:
                errors += 1
            elif value is not None:
                values.append(value)
        summary = summarize(
            values,
            value_type=metric.value_type,
            threshold=run.star_threshold if is_star else None,
            inverted=metric.inverted,
            errors=errors,
        )
        summary.update(
            metric_id=str(metric.id),
            metric_name=metric.name,
            metric_version_id=str(binding.metric_version_id),
            value_type=metric.value_type,
            entry_id=str(binding.entry_id),
            is_star=is_star,
        )
        summaries[str(binding.id)] = summary
        if is_star and run.star_threshold is not None and summary.get("mean") is not None:
            pass_status = passes(
                summary["mean"], threshold=run.star_threshold, inverted=metric.inverted
            )
    return summaries, pass_status


def _terminal_status(counts: dict[str, int], *, cancelling: bool) -> str:
    if cancelling:
        return RunStatus.CANCELED
    succeeded = counts.get(TaskStatus.SUCCEEDED, 0)
    failed = counts.get(TaskStatus.FAILED, 0)
    canceled = counts.get(TaskStatus.CANCELED, 0)
    if failed == 0 and canceled == 0:
        return RunStatus.SUCCEEDED
    if succeeded == 0:
        return RunStatus.FAILED
    return RunStatus.PARTIALLY_SUCCEEDED


def try_finish(run_id) -> bool:
    """Finish the run if nothing is left to do; True only for the one call that finished it.

    A cancelling run finishes as soon as no task is claimed (its pending tasks become
    canceled); a running run once no task is pending or claimed.
    """
    with transaction.atomic():
        run = EvaluationRun.objects.select_for_update().filter(id=run_id).first()
        if run is None or run.status not in (RunStatus.RUNNING, RunStatus.CANCELLING):
            return False
        tasks = RunTask.objects.filter(run_id=run_id)
        cancelling = run.status == RunStatus.CANCELLING
        busy = [TaskStatus.CLAIMED] if cancelling else [TaskStatus.CLAIMED, TaskStatus.PENDING]
        if tasks.filter(status__in=busy).exists():
            return False
        now = timezone.now()
        if cancelling:
            tasks.filter(status=TaskStatus.PENDING).update(
                status=TaskStatus.CANCELED, finished_at=now
            )
        counts = dict(
            tasks.order_by()
            .values_list("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        status = _terminal_status(counts, cancelling=cancelling)
        summaries, pass_status = compute_summaries(run)
        if status == RunStatus.CANCELED:
            pass_status = None
        changed = EvaluationRun.objects.filter(id=run_id, status=run.status).update(
            status=status,
            phase=RunPhase.FINISHED,
            finished_at=now,
            last_progress_at=now,
            total_tasks=sum(counts.values()),
            succeeded_tasks=counts.get(TaskStatus.SUCCEEDED, 0),
            failed_tasks=counts.get(TaskStatus.FAILED, 0),
            canceled_tasks=counts.get(TaskStatus.CANCELED, 0),
            summaries=summaries,
            pass_status=pass_status,
        )
    if changed:
        log.info("run %s finished: %s %s", run_id, status, counts)
        run_finished.send(sender=EvaluationRun, run_id=run_id, status=status)
        sql.refresh_planner_statistics(RunTask, MetricResult, rows=sum(counts.values()))
    return bool(changed)


def cancel_pending_run(run_id) -> bool:
    """A run still waiting for its plan is canceled at once (it has no tasks yet)."""
    now = timezone.now()
    return bool(
        EvaluationRun.objects.filter(id=run_id, status=RunStatus.PENDING).update(
            status=RunStatus.CANCELED, phase=RunPhase.FINISHED, finished_at=now
        )
    )


def request_cancel(run_id) -> bool:
    """running -> cancelling; drainers stop claiming and the last one out finishes it."""
    return bool(
        EvaluationRun.objects.filter(id=run_id, status=RunStatus.RUNNING).update(
            status=RunStatus.CANCELLING
        )
    )
