"""Finishing a run exactly once, with its run-level summaries and pass status.

Whoever notices that nothing is left to do (a drainer leaving, the sweeper, a cancel) calls
``try_finish``; the run row is locked (PostgreSQL) or the write lock held (SQLite IMMEDIATE)
and the final status is set by a conditional update, so only one caller ever finishes it.
"""

from __future__ import annotations

import logging
import uuid
from array import array

from django.db import connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from runs.engine import sql
from runs.engine.budget import NOT_RUN_PREFIX, cap_label, reset_leaked_reservations
from runs.models import (
    EvaluationRun,
    MetricBinding,
    MetricResult,
    RunStatus,
    RunTask,
    TaskStatus,
)
from runs.signals import run_finished

log = logging.getLogger(__name__)


def not_scored_sql() -> str:
    """A run's failed rows counted by (not run, entry).

    Grouped by the not-run flag first: grouped by entry_id first (what the ORM writes),
    SQLite, which has no statistics, walked every row of the run through the unique (run,
    entry, item, trial) index for its order instead of the run's failed rows through the
    (run_id, status) one: 3 s instead of under a millisecond at 1,000,000 rows."""
    return (
        "SELECT substr(error, 1, %s) = %s, entry_id, COUNT(*) "  # noqa: S608 - our own table
        f"FROM {sql.table(RunTask)} WHERE run_id = %s AND status = %s GROUP BY 1, 2"
    )


def _not_scored_by_entry(run: EvaluationRun) -> tuple[dict, dict]:
    """({entry id: rows whose agent call (or the row itself) failed}, {entry id: rows a cap
    left not run}): no metric ran on either."""
    failed: dict = {}
    not_run: dict = {}
    params = [len(NOT_RUN_PREFIX), NOT_RUN_PREFIX, sql.uuid_param(run.id), TaskStatus.FAILED]
    with connection.cursor() as cursor:
        cursor.execute(not_scored_sql(), params)
        for is_not_run, entry_id, n in cursor.fetchall():
            entry_id = entry_id if isinstance(entry_id, uuid.UUID) else uuid.UUID(str(entry_id))
            (not_run if is_not_run else failed)[entry_id] = n
    return failed, not_run


def star_pass_status(summary: dict, *, threshold: float | None, metric) -> bool | None:
    """The star metric rule: every row the metric should have scored counts.

    Rows without a value (the metric could not compute, the agent call failed, or a cap left
    the row not run) count as failing rows at the worst end of the metric's declared range
    (``range_min``, or ``range_max`` for inverted metrics), and the mean over all those rows
    must meet the threshold. So the share of errors a run may have is what the threshold
    leaves room for; a metric with an open worst end tolerates none. Nothing scored: not
    passed. A string metric has no mean to compare: None.
    """
    from metrics.aggregation import passes

    if threshold is None or not metric.is_numeric:
        return None
    scored = summary.get("count") or 0
    failing = sum(summary.get(key) or 0 for key in ("errors", "not_scored", "not_run"))
    if scored == 0:
        return False
    mean = summary["mean"]
    if failing:
        worst = metric.range_max if metric.inverted else metric.range_min
        if worst is None:
            return False
        mean = (mean * scored + worst * failing) / (scored + failing)
    summary["pass_mean"] = mean
    return passes(mean, threshold=threshold, inverted=metric.inverted)


def compute_summaries(run: EvaluationRun) -> tuple[dict, bool | None]:
    """{binding id: summary} for every metric binding, and the star metric's pass status.

    ``errors`` counts results whose metric could not compute; ``not_scored`` the rows of
    the binding's entry whose agent call failed (they have no result at all).
    """
    from metrics.aggregation import summarize

    summaries: dict[str, dict] = {}
    pass_status = None
    not_scored, not_run = _not_scored_by_entry(run)
    bindings = MetricBinding.objects.filter(run=run).select_related("metric_version__metric")
    for binding in bindings:
        metric = binding.metric_version.metric
        is_star = binding.id == run.star_binding_id
        column = "number_value" if metric.is_numeric else "string_value"
        # Numbers as 8-byte doubles (a list of Python floats costs 32 bytes a value).
        values = array("d") if metric.is_numeric else []
        errors = 0
        # No ORDER BY (the model's default is (task, binding)): SQLite would sort every result
        # in its in-memory temp store (+80 MB and 8 s a metric at 1,000,000 rows).
        rows = (
            MetricResult.objects.filter(binding=binding)
            .order_by()
            .values_list(column, "error_description")
        )
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
            not_scored=not_scored.get(binding.entry_id, 0),
            not_run=not_run.get(binding.entry_id, 0),
        )
        if is_star:
            pass_status = star_pass_status(summary, threshold=run.star_threshold, metric=metric)
        if binding.metric_version.implementation == "llm_judge":
            summary["cost"] = (
                MetricResult.objects.filter(binding=binding).aggregate(c=Sum("cost"))["c"] or 0.0
            )
        if run.repetitions > 1:
            from runs.trials import repetition_summary

            summary["trials"] = repetition_summary(
                run, binding, metric=metric, threshold=run.star_threshold if is_star else None
            )
        summaries[str(binding.id)] = summary
    return summaries, pass_status


def terminal_status(counts: dict[str, int], summaries: dict, *, cancelling: bool) -> str:
    """The run status rule (README, "Status rules").

    - canceled: the user canceled it;
    - failed: no row's agent call (or, dataset-only, no row) succeeded, or the run has
      metrics and not one metric result has a value;
    - succeeded: every row's agent call succeeded and every metric result has a value;
    - partially_succeeded: anything in between.
    """
    if cancelling:
        return RunStatus.CANCELED
    succeeded = counts.get(TaskStatus.SUCCEEDED, 0)
    failed = counts.get(TaskStatus.FAILED, 0) + counts.get(TaskStatus.CANCELED, 0)
    valued = sum(s.get("count") or 0 for s in summaries.values())
    errors = sum(s.get("errors") or 0 for s in summaries.values())
    if succeeded == 0 or (summaries and valued == 0):
        return RunStatus.FAILED
    if failed == 0 and errors == 0:
        return RunStatus.SUCCEEDED
    return RunStatus.PARTIALLY_SUCCEEDED


def _shorten(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _commonest(queryset, column: str) -> tuple[str, int]:
    """The most frequent value of ``column`` and how many distinct values there are."""
    grouped = list(
        queryset.order_by().values_list(column).annotate(n=Count("id")).order_by("-n", column)[:2]
    )
    return (grouped[0][0] if grouped else ""), len(grouped)


def failure_reasons(run: EvaluationRun, counts: dict[str, int], summaries: dict) -> str:
    """One line saying why a run is failed or partial: how many agent calls (or rows)
    failed and each metric that could not score some rows, with the commonest error."""
    from runs.columns import binding_labels

    parts = []
    total = sum(counts.values())
    failed = counts.get(TaskStatus.FAILED, 0)
    failed_tasks = RunTask.objects.filter(run_id=run.id, status=TaskStatus.FAILED)
    if run.cap_reached:
        not_run = failed_tasks.filter(error__startswith=NOT_RUN_PREFIX).count()
        failed -= not_run
        limit = getattr(run, run.cap_reached)
        parts.append(
            f"Stopped at {cap_label(run.cap_reached, limit)} after {total - not_run:,} "
            f"of {total:,} rows"
        )
        failed_tasks = failed_tasks.exclude(error__startswith=NOT_RUN_PREFIX)
    if failed:
        error, distinct = _commonest(failed_tasks, "error")
        error = error.removeprefix("Workflow error: ")
        what = "rows could not be processed" if run.is_dataset_only else "agent calls failed"
        more = " (and other errors)" if distinct > 1 else ""
        parts.append(f"{failed} of {total} {what}: {_shorten(error)}{more}")
    labels = binding_labels(run)
    for binding_id, summary in summaries.items():
        errors = summary.get("errors") or 0
        if not errors:
            continue
        errored = MetricResult.objects.filter(binding_id=binding_id).exclude(error_description="")
        error, distinct = _commonest(errored, "error_description")
        more = " (and other errors)" if distinct > 1 else ""
        label = labels.get(binding_id, summary.get("metric_name", "A metric"))
        scored_rows = errors + (summary.get("count") or 0)
        parts.append(
            f"{label} could not score {errors} of {scored_rows} rows: {_shorten(error)}{more}"
        )
    return "; ".join(parts)[:2000]


def try_finish(run_id) -> bool:
    """Finish the run if nothing is left to do; True only for the one call that finished it.

    A cancelling run finishes as soon as no task is claimed (its pending tasks become
    canceled); a running run once no task is pending or claimed.
    """
    # Every agent call has returned: what is left is scoring (the run-level summaries), which
    # Gradient reports as EVALUATION_RUN_EVALUATING_RESULTS. Committed on its own so that
    # readers see it while the summaries are computed.
    if not RunTask.objects.filter(
        run_id=run_id, status__in=[TaskStatus.PENDING, TaskStatus.CLAIMED]
    ).exists():
        EvaluationRun.objects.evaluate_results(run_id)
    with transaction.atomic():
        run = EvaluationRun.objects.select_for_update(no_key=True).filter(id=run_id).first()
        if run is None or run.status not in (RunStatus.RUNNING, RunStatus.CANCELLING):
            return False
        tasks = RunTask.objects.filter(run_id=run_id)
        cancelling = run.status == RunStatus.CANCELLING
        busy = [TaskStatus.CLAIMED] if cancelling else [TaskStatus.CLAIMED, TaskStatus.PENDING]
        if tasks.filter(status__in=busy).exists():
            return False
        now = timezone.now()
        # Nothing is claimed: any budget still reserved leaked from a drainer that died.
        reset_leaked_reservations(run_id)
        if cancelling:
            sql.cancel_pending_tasks(run_id, now=now)
            if tasks.filter(status__in=busy + [TaskStatus.PENDING]).exists():
                return False  # rows claimed meanwhile: their drainer finishes the run
        counts = dict(
            tasks.order_by()
            .values_list("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        summaries, pass_status = compute_summaries(run)
        status = terminal_status(counts, summaries, cancelling=cancelling)
        reasons = ""
        if status == RunStatus.CANCELED:
            pass_status = None
            total = sum(counts.values())
            ran = total - counts.get(TaskStatus.CANCELED, 0)
            reasons = f"Canceled after {ran:,} of {total:,} rows had run."
        elif status in (RunStatus.FAILED, RunStatus.PARTIALLY_SUCCEEDED):
            reasons = failure_reasons(run, counts, summaries) or run.error_description
        changed = EvaluationRun.objects.finish(
            run_id,
            leaving=run.status,
            status=status,
            now=now,
            total_tasks=sum(counts.values()),
            succeeded_tasks=counts.get(TaskStatus.SUCCEEDED, 0),
            failed_tasks=counts.get(TaskStatus.FAILED, 0),
            canceled_tasks=counts.get(TaskStatus.CANCELED, 0),
            metric_errors=sum(s.get("errors") or 0 for s in summaries.values()),
            summaries=summaries,
            pass_status=pass_status,
            error_description=reasons,
        )
    if changed:
        log.info("run %s finished: %s %s", run_id, status, counts)
        run_finished.send(sender=EvaluationRun, run_id=run_id, status=status)
        sql.refresh_planner_statistics(RunTask, MetricResult, rows=sum(counts.values()))
    return bool(changed)


def cancel_pending_run(run_id) -> bool:
    """A run still waiting for its plan is canceled at once (it has no tasks yet)."""
    return EvaluationRun.objects.cancel_pending(run_id)


def request_cancel(run_id) -> bool:
    """running -> cancelling; drainers stop claiming and the last one out finishes it."""
    return EvaluationRun.objects.request_cancel(run_id)
