"""Writing a processed batch: one transaction, bulk statements, only for tasks still owned.

Results are upserted on (task, binding), so a row processed twice (a lease that expired
while its first worker was still busy) still ends with exactly one result per metric.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from runs.engine import sql
from runs.engine.budget import Reservation, Usage, settle_run
from runs.engine.claims import owned_ids
from runs.models import EvaluationRun, MetricResult, RunTask, TaskStatus
from traces.span_scoring import store_span_results

RESULT_CHUNK = 500


@dataclass(slots=True)
class TaskOutcome:
    """What processing one task produced.

    ``error`` is the workflow outcome only (the agent call failed, or the row could not be
    processed); a metric that cannot compute is an error on its own result in ``results``
    and leaves the task succeeded. ``workflow`` is None in dataset-only runs and when only
    failed metric results were re-scored from the stored outputs (those stay as they are).
    """

    task_id: int
    error: str = ""
    results: list[tuple[Any, Any]] = field(default_factory=list)  # (binding_id, MetricOutcome)
    workflow: Any = None  # workflows.executors.ExecutionResult
    usage: Any = None  # runs.engine.budget.Usage of the row's calls
    agent_cost: float | None = None
    cached: bool = False  # the agent's answer came from the call cache
    cache_key: str | None = None  # store the agent's answer under this key once written

    @property
    def succeeded(self) -> bool:
        return not self.error


def _json(value) -> str:
    return json.dumps(value, default=str, separators=(",", ":"))


def _upsert_results(run_id, outcomes: list[TaskOutcome]) -> None:
    store_span_results(outcomes)  # span-level bindings: one result per span (traces app)
    results = sql.table(MetricResult)
    columns = (
        "run_id, task_id, binding_id, number_value, string_value, reasoning, "
        "error_description, details, cost"
    )
    update = (
        "number_value = excluded.number_value, string_value = excluded.string_value, "
        "reasoning = excluded.reasoning, error_description = excluded.error_description, "
        "details = excluded.details, cost = excluded.cost"
    )
    rows = _result_rows(run_id, outcomes)
    if not rows:
        return
    if sql.is_postgresql():
        _copy_results(rows, columns=columns, update=update)
        return
    with connection.cursor() as cursor:
        for start in range(0, len(rows), RESULT_CHUNK):
            chunk = rows[start : start + RESULT_CHUNK]
            values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(chunk))
            params = [value for row in chunk for value in row]
            cursor.execute(
                f"INSERT INTO {results} ({columns}) VALUES {values} "  # noqa: S608
                f"ON CONFLICT (task_id, binding_id) DO UPDATE SET {update}",
                params,
            )


def _result_rows(run_id, outcomes: list[TaskOutcome]) -> list[tuple]:
    run_param = sql.uuid_param(run_id)
    binding_params: dict = {}
    rows: list[tuple] = []
    for outcome in outcomes:
        for binding_id, metric in outcome.results:
            binding_param = binding_params.get(binding_id)
            if binding_param is None:
                binding_param = binding_params[binding_id] = sql.uuid_param(binding_id)
            rows.append(
                (
                    run_param,
                    outcome.task_id,
                    binding_param,
                    metric.number_value,
                    metric.string_value,
                    metric.reasoning or "",
                    metric.error_description or "",
                    _json(metric.details or {}),
                    metric.cost,
                )
            )
    return rows


def write_locked_batch_pg(run_id, outcomes: list[TaskOutcome], *, now=None) -> int:
    """PostgreSQL, dataset-only rows locked by ``claims.lock_and_load_pg`` in the caller's
    transaction: the results, the rows' final status and the run's counters in one
    statement after one COPY. Each row is written once (pending -> succeeded). Returns how
    many rows moved (rows canceled meanwhile are not pending and keep no result)."""
    now = now or timezone.now()
    rows = _result_rows(run_id, outcomes)
    tasks, results, runs = (sql.table(m) for m in (RunTask, MetricResult, EvaluationRun))
    statement = (
        f"WITH moved AS (UPDATE {tasks} SET status = 'succeeded', error = '', "  # noqa: S608
        "finished_at = %(now)s, lease_expires_at = NULL, rescore = FALSE, "
        "attempts = attempts + 1 WHERE id = ANY(%(ids)s) AND status = 'pending' RETURNING id), "
        f"staged AS (DELETE FROM runs_result_stage RETURNING {RESULT_COLUMNS}), "
        f"stored AS (INSERT INTO {results} ({RESULT_COLUMNS}) SELECT {RESULT_COLUMNS} "
        "FROM staged WHERE task_id IN (SELECT id FROM moved) "
        f"ON CONFLICT (task_id, binding_id) DO UPDATE SET {RESULT_UPDATE}) "
        f"UPDATE {runs} SET succeeded_tasks = succeeded_tasks + (SELECT count(*) FROM moved), "
        "last_progress_at = %(now)s WHERE id = %(run)s RETURNING (SELECT count(*) FROM moved)"
    )
    with connection.cursor() as cursor:
        if rows:
            _stage(cursor, rows)
        cursor.execute(
            statement,
            {"now": now, "ids": [o.task_id for o in outcomes], "run": sql.uuid_param(run_id)},
        )
        found = cursor.fetchone()
    return found[0] if found else 0


RESULT_COLUMNS = (
    "run_id, task_id, binding_id, number_value, string_value, reasoning, "
    "error_description, details, cost"
)
RESULT_UPDATE = (
    "number_value = excluded.number_value, string_value = excluded.string_value, "
    "reasoning = excluded.reasoning, error_description = excluded.error_description, "
    "details = excluded.details, cost = excluded.cost"
)


def _stage(cursor, rows: list[tuple]) -> None:
    """COPY result rows into the session's temp stage table (emptied at commit).

    The table is created if missing on every batch, one cheap statement: remembering per
    connection that it exists goes wrong whenever the creating transaction is rolled back
    after the memo was taken (a test's on-commit capture did exactly that)."""
    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS runs_result_stage (run_id uuid, task_id bigint, "
        "binding_id uuid, number_value double precision, string_value text, reasoning text, "
        "error_description text, details jsonb, cost double precision) ON COMMIT DELETE ROWS"
    )
    with cursor.cursor.copy(f"COPY runs_result_stage ({RESULT_COLUMNS}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _copy_results(rows: list[tuple], *, columns: str, update: str) -> None:
    """PostgreSQL: COPY the rows into a session temp table, then one upsert from it (several
    times faster than multi-row INSERTs built client-side)."""
    results = sql.table(MetricResult)
    with connection.cursor() as cursor:
        _stage(cursor, rows)
        cursor.execute(
            f"INSERT INTO {results} ({columns}) SELECT {columns} FROM runs_result_stage "  # noqa: S608
            f"ON CONFLICT (task_id, binding_id) DO UPDATE SET {update}"
        )
        cursor.execute("TRUNCATE runs_result_stage")


def _update_tasks(outcomes: list[TaskOutcome], *, owner: str, now) -> None:
    owned = {"status": TaskStatus.CLAIMED, "lease_owner": owner}
    plain = [o for o in outcomes if o.workflow is None]
    # Dataset-only rows: one statement for all successes, one per distinct error.
    by_error: dict[str, list[int]] = defaultdict(list)
    for outcome in plain:
        by_error[outcome.error].append(outcome.task_id)
    for error, ids in by_error.items():
        RunTask.objects.filter(id__in=ids, **owned).update(
            status=TaskStatus.FAILED if error else TaskStatus.SUCCEEDED,
            error=error,
            finished_at=now,
            lease_expires_at=None,
            rescore=False,
        )
    called = [o for o in outcomes if o.workflow is not None]
    if not called:
        return
    tasks = sql.table(RunTask)
    now_param = sql.datetime_param(now)
    params = []
    for outcome in called:
        result = outcome.workflow
        params.append(
            (
                TaskStatus.FAILED if outcome.error else TaskStatus.SUCCEEDED,
                _json(result.outputs or {}),
                result.input_tokens,
                result.output_tokens,
                _json(result.chunks or []),
                _json(result.spans or []),
                result.latency_ms,
                outcome.error,
                now_param,
                outcome.agent_cost,
                outcome.cached,
                outcome.task_id,
                owner,
            )
        )
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {tasks} SET status = %s, outputs = %s, input_tokens = %s, "  # noqa: S608
            "output_tokens = %s, chunks = %s, spans = %s, latency_ms = %s, error = %s, "
            "finished_at = %s, cost = %s, cached = %s, lease_expires_at = NULL, rescore = FALSE "
            "WHERE id = %s AND status = 'claimed' AND lease_owner = %s",
            params,
        )


def _update_owned_tasks_pg(outcomes: list[TaskOutcome], *, owner: str, now) -> set[int]:
    """PostgreSQL: move every task of the batch in one statement (arrays, not one
    placeholder per row) and learn from RETURNING which ones this drainer still owned."""
    columns: dict[str, list] = {
        k: [] for k in ("id", "st", "err", "out", "it", "ot", "ch", "sp", "lat", "co", "ca")
    }
    for outcome in outcomes:
        result = outcome.workflow
        columns["id"].append(outcome.task_id)
        columns["st"].append(TaskStatus.FAILED if outcome.error else TaskStatus.SUCCEEDED)
        columns["err"].append(outcome.error)
        columns["out"].append(None if result is None else _json(result.outputs or {}))
        columns["it"].append(None if result is None else result.input_tokens)
        columns["ot"].append(None if result is None else result.output_tokens)
        columns["ch"].append(None if result is None else _json(result.chunks or []))
        columns["sp"].append(None if result is None else _json(result.spans or []))
        columns["lat"].append(None if result is None else result.latency_ms)
        columns["co"].append(None if result is None else outcome.agent_cost)
        columns["ca"].append(None if result is None else outcome.cached)
    tasks = sql.table(RunTask)
    # Rows without a workflow result (dataset-only, or re-scored from stored outputs) keep
    # whatever the agent call stored.
    keep = "CASE WHEN v.out IS NULL THEN t.{0} ELSE v.{1} END"
    statement = (
        f"UPDATE {tasks} AS t SET status = v.st, error = v.err, finished_at = %s, "  # noqa: S608
        "lease_expires_at = NULL, rescore = FALSE, outputs = COALESCE(v.out::jsonb, t.outputs), "
        f"input_tokens = {keep.format('input_tokens', 'it')}, "
        f"output_tokens = {keep.format('output_tokens', 'ot')}, "
        "chunks = COALESCE(v.ch::jsonb, t.chunks), spans = COALESCE(v.sp::jsonb, t.spans), "
        f"latency_ms = {keep.format('latency_ms', 'lat')}, "
        f"cost = {keep.format('cost', 'co')}, cached = COALESCE(v.ca, t.cached) "
        "FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::int[], %s::int[], "
        "%s::text[], %s::text[], %s::float8[], %s::float8[], %s::boolean[]) "
        "AS v(id, st, err, out, it, ot, ch, sp, lat, co, ca) "
        "WHERE t.id = v.id AND t.status = 'claimed' AND t.lease_owner = %s RETURNING t.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [now, *columns.values(), owner])
        return {row[0] for row in cursor.fetchall()}


def _drop_results_of_failed(outcomes: list[TaskOutcome]) -> None:
    """A failed agent call has no metric results: nothing was there to score. (Results of
    an earlier attempt of the same row, processed twice, must not outlive it.)"""
    failed = [o.task_id for o in outcomes if o.error]
    if failed:
        MetricResult.objects.filter(task_id__in=failed).delete()


def write_batch(run_id, outcomes: list[TaskOutcome], *, owner: str, budget=None) -> tuple[int, int]:
    """Store a batch; returns (succeeded, failed) among the tasks this drainer still owned.
    The rows' budget reservations are released in the same transaction, and forgotten by
    the drainer only once it committed (a retried write releases them exactly once)."""
    counts = _write_batch(run_id, outcomes, owner=owner, budget=budget)
    if budget is not None:
        budget.forget([o.task_id for o in outcomes])
    return counts


def _write_batch(run_id, outcomes: list[TaskOutcome], *, owner: str, budget) -> tuple[int, int]:
    now = timezone.now()
    with transaction.atomic():
        if sql.is_postgresql():
            # The conditional update takes the row locks and says which rows are still ours;
            # results are then written for exactly those, in the same transaction.
            owned = _update_owned_tasks_pg(outcomes, owner=owner, now=now)
            kept = [o for o in outcomes if o.task_id in owned]
            if not kept:
                _release(run_id, outcomes, budget)
                return 0, 0
            _drop_results_of_failed(kept)
            _upsert_results(run_id, kept)
        else:
            owned = set(owned_ids([o.task_id for o in outcomes], owner=owner))
            kept = [o for o in outcomes if o.task_id in owned]
            if not kept:
                _release(run_id, outcomes, budget)
                return 0, 0
            _drop_results_of_failed(kept)
            _upsert_results(run_id, kept)
            _update_tasks(kept, owner=owner, now=now)
        succeeded = sum(1 for o in kept if o.succeeded)
        failed = len(kept) - succeeded
        _store_in_cache(kept)
        used, peak = _usage_of(kept)
        if budget is None or not budget.active:
            peak = None  # only caps need the worst row seen so far
        ids = [o.task_id for o in outcomes]
        released = budget.reserved_for(ids) if budget is not None else None
        settle_run(
            run_id,
            released=released or Reservation(),
            used=used,
            peak=peak,
            extra={
                "succeeded_tasks": F("succeeded_tasks") + succeeded,
                "failed_tasks": F("failed_tasks") + failed,
                "last_progress_at": now,
            },
        )
    return succeeded, failed


def _release(run_id, outcomes: list[TaskOutcome], budget) -> None:
    if budget is not None:
        budget.release_unused([budget.reserved_for([o.task_id for o in outcomes])])


def _usage_of(outcomes: list[TaskOutcome]) -> tuple[Usage, Usage | None]:
    """The batch's total use, and its largest row among those whose calls were made."""
    total = Usage()
    peak = None
    for outcome in outcomes:
        usage = outcome.usage
        if usage is None:
            continue
        total.add(usage)
        if (usage.agent_calls or usage.judge_calls) and not outcome.error:
            if peak is None:
                peak = Usage()
            peak.tokens = max(peak.tokens, usage.tokens)
            peak.cost = max(peak.cost, usage.cost)
    return total, peak


def _store_in_cache(outcomes: list[TaskOutcome]) -> None:
    from runs import call_cache

    entries = [
        call_cache.agent_entry(o.cache_key, o.workflow, o.agent_cost)
        for o in outcomes
        if o.cache_key and o.succeeded and o.workflow is not None
    ]
    for outcome in outcomes:
        for _, metric in outcome.results:
            key = getattr(metric, "cache_key", None)
            if key and not metric.error_description and not metric.cached:
                entries.append(call_cache.judge_entry(key, metric))
    call_cache.store(entries)


def fail_tasks(run_id, task_ids: list[int] | None, *, error: str, owner: str | None = None) -> int:
    """Fail tasks without results: the given claimed ones of ``owner``, or (``task_ids``
    None) every pending task of the run. Counters move by the rows actually changed."""
    now = timezone.now()
    with transaction.atomic():
        if task_ids is None:
            queryset = RunTask.objects.filter(run_id=run_id, status=TaskStatus.PENDING)
        else:
            queryset = RunTask.objects.filter(
                id__in=task_ids, status=TaskStatus.CLAIMED, lease_owner=owner
            )
        changed = queryset.update(
            status=TaskStatus.FAILED, error=error, finished_at=now, lease_expires_at=None
        )
        if changed:
            EvaluationRun.objects.filter(id=run_id).update(
                failed_tasks=F("failed_tasks") + changed, last_progress_at=now
            )
    return changed
