"""Reads over runs that the UI and both API dialects share.

Results pages use keyset pagination (an opaque cursor after the last row) so page 2,000 of a
100,000-row run costs what page 1 costs; exports stream in keyset chunks.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import orjson
from django.db import connection
from django.db.models import QuerySet

from datasets.models import DatasetItem
from runs.models import (
    EvaluationRun,
    MetricBinding,
    MetricResult,
    RunStatus,
    RunTask,
)
from traces.span_scoring import run_span_summaries, span_results_by_task


def sql_is_postgresql() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


def runs_for_project(
    project, *, status: str | None = None, dataset_id=None, search: str | None = None
) -> QuerySet[EvaluationRun]:
    runs = EvaluationRun.objects.filter(project=project).select_related(
        "started_by", "dataset_version__dataset", "test_case"
    )
    if status:
        runs = runs.filter(status=status)
    if dataset_id:
        runs = runs.filter(dataset_version__dataset_id=dataset_id)
    if search:
        runs = runs.filter(name__icontains=search.strip())
    return runs.order_by("-queued_at", "-id")


def run_bindings(run: EvaluationRun) -> list[MetricBinding]:
    """The run's metric columns in order, with metric, version and entry loaded."""
    return list(
        MetricBinding.objects.filter(run=run)
        .select_related("metric_version__metric", "entry__workflow_version__workflow")
        .order_by("position")
    )


# --- results pages and Gradient prompts -------------------------------------------------------


# Gradient prompt pages: a prompt is a dataset item and a page is a range of item positions,
# so every page walks the (run, position, id) index and costs the same at any depth. Plain
# ``values_list`` rows (no model instances) keep 100 prompts a page to a few milliseconds.
PROMPT_TASK_FIELDS = (
    "id",
    "entry_id",
    "position",
    "outputs",
    "input_tokens",
    "output_tokens",
    "chunks",
    "spans",
    "item__data",
    "trial",
    "cost",
)
# What a metric result reads as: shared by the prompt pages and the results table drawer.
RESULT_FIELDS = (
    "task_id",
    "binding_id",
    "number_value",
    "string_value",
    "reasoning",
    "error_description",
    "details",
)


def prompt_total(run: EvaluationRun, entry_count: int) -> int:
    """Prompts of one entry: every entry has one task per item and trial once the run is
    planned; a prompt is a row (its trials are merged)."""
    per_prompt = entry_count * max(1, run.repetitions)
    return run.total_tasks // per_prompt if entry_count else 0


def run_prompt_rows(run: EvaluationRun, *, entry_id, start: int, stop: int) -> list[tuple]:
    """``(task, results)`` dicts for the tasks of ``entry_id`` (every entry's when None) at
    item positions [start, stop)."""
    tasks = []
    for values in (
        RunTask.objects.filter(run=run, position__gte=max(0, start), position__lt=stop)
        .order_by("position", "id")
        .values_list(*PROMPT_TASK_FIELDS)
    ):
        task = dict(zip(PROMPT_TASK_FIELDS, values, strict=True))
        if entry_id is None or task["entry_id"] == entry_id:
            task["data"] = task.pop("item__data")
            tasks.append(task)
    results: dict[int, list[dict]] = {task["id"]: [] for task in tasks}
    if results:
        for values in (
            MetricResult.objects.filter(task_id__in=list(results))
            .order_by()
            .values_list(*RESULT_FIELDS)
        ):
            results[values[0]].append(dict(zip(RESULT_FIELDS, values, strict=True)))
        spans = span_results_by_task(results)  # span-level metric results, one query
        for task in tasks:
            task["span_results"] = spans.get(task["id"], [])
    rows = [(task, results[task["id"]]) for task in tasks]
    if run.repetitions > 1:
        from runs.trials import merge_prompt_trials

        rows = merge_prompt_trials(rows, repetitions=run.repetitions)
    return rows


def runs_for_test_case(test_case, *, version: int | None = None) -> QuerySet[EvaluationRun]:
    runs = EvaluationRun.objects.filter(test_case=test_case).select_related(
        "started_by", "dataset_version__dataset", "test_case"
    )
    if version is not None:
        runs = runs.filter(test_case_version=version)
    return runs.order_by("-queued_at", "-id")


# --- export --------------------------------------------------------------------------------------


# A row whose agent call failed has no metric results: nothing was there to score.
_NO_RESULT = {
    "number_value": None,
    "string_value": None,
    "reasoning": "",
    "error_description": "",
}

# One record per task of ``run_result_records``: these task columns, then for every binding
# ``RESULT_COLUMNS`` (all None when the task has no result for it), then its span results.
RECORD_TASK_COLUMNS = (
    "position",
    "trial",
    "id",
    "entry_id",  # as text (a str hashes faster than a UUID)
    "status",
    "error",
    "data",  # JSON text
    "outputs",  # JSON text
    "input_tokens",
    "output_tokens",
    "latency_ms",
    "chunks",  # JSON text
    "spans",  # JSON text
    "cost",
    "cached",
)
RECORD_RESULT_COLUMNS = (
    "id",
    "number_value",
    "string_value",
    "reasoning",
    "error_description",
    "cost",
)
RECORDS_PER_FETCH = 2000


def _record_sql(bindings: list) -> tuple[str, str]:
    """The task query (one LEFT JOIN per binding on the (task, binding) unique index) and
    the span-result query, both in (position, task id) order."""
    from traces.models import SpanMetricResult

    table = connection.ops.quote_name
    json_text = "::text" if connection.vendor == "postgresql" else ""
    task_columns = [
        f"i.data{json_text}"
        if name == "data"
        else f"t.{name}{json_text}"
        if name in ("outputs", "chunks", "spans", "entry_id")
        else f"t.{name}"
        for name in RECORD_TASK_COLUMNS
    ]
    joins, result_columns = [], []
    for index, _binding in enumerate(bindings):
        alias = f"m{index}"
        joins.append(
            f"LEFT JOIN {table(MetricResult._meta.db_table)} {alias} "
            f"ON {alias}.task_id = t.id AND {alias}.binding_id = %s"
        )
        result_columns += [f"{alias}.{name}" for name in RECORD_RESULT_COLUMNS]
    tasks = (
        f"SELECT {', '.join(task_columns + result_columns)} "  # noqa: S608 - names, not values
        f"FROM {table(RunTask._meta.db_table)} t "
        f"JOIN {table(DatasetItem._meta.db_table)} i ON i.id = t.item_id "
        f"{' '.join(joins)} WHERE t.run_id = %s ORDER BY t.position, t.id"
    )
    marks = ", ".join(["%s"] * len(bindings)) or "NULL"
    spans = (
        f"SELECT t.position, t.id, s.binding_id{json_text}, "  # noqa: S608 - names, not values
        + ", ".join(f"s.{name}" for name in SPAN_RESULT_OUT)
        + f" FROM {table(SpanMetricResult._meta.db_table)} s "
        f"JOIN {table(RunTask._meta.db_table)} t ON t.id = s.task_id "
        f"WHERE s.binding_id IN ({marks}) ORDER BY t.position, t.id, s.binding_id, s.span_index"
    )
    return tasks, spans


def run_result_records(run: EvaluationRun, bindings: list) -> Iterator[tuple[tuple, dict]]:
    """Every task of the run as ``(record, span_results)``, in dataset order, streamed.

    ``record`` is a plain tuple: ``RECORD_TASK_COLUMNS`` then ``RECORD_RESULT_COLUMNS`` per
    binding of ``bindings`` (in that order); the JSON columns come as the database's JSON
    text (PostgreSQL: jsonb's own text; SQLite: the stored text, which may hold NaN).
    ``span_results`` is ``{binding id as stored: [span result dicts]}`` for that task.

    One query for the tasks and one for the span results, read side by side through
    server-side cursors (PostgreSQL, in a transaction) in fetches of ``RECORDS_PER_FETCH``,
    so memory stays flat at any run size and no Python object is built per column.
    """
    from django.db import transaction

    from runs.engine.sql import uuid_param

    task_sql, span_sql = _record_sql(bindings)
    binding_params = [uuid_param(b.id) for b in bindings]
    # PostgreSQL: named cursors inside a transaction (WITH HOLD, outside one, would copy the
    # whole result on the server first); SQLite's cursors stream as they are.
    postgres = connection.vendor == "postgresql"
    with (
        transaction.atomic() if postgres else contextlib.nullcontext(),
        connection.chunked_cursor() as tasks,
        connection.chunked_cursor() as spans,
    ):
        tasks.execute(task_sql, [*binding_params, uuid_param(run.id)])
        spans.execute(span_sql, binding_params)  # binding ids come back as text too
        pending = spans.fetchmany(RECORDS_PER_FETCH)
        at = 0
        while batch := tasks.fetchmany(RECORDS_PER_FETCH):
            for record in batch:
                found: dict = {}
                key = (record[0], record[2])  # (position, task id)
                while pending:
                    if at >= len(pending):
                        pending, at = spans.fetchmany(RECORDS_PER_FETCH), 0
                        continue
                    span = pending[at]
                    if (span[0], span[1]) > key:
                        break
                    at += 1
                    if (span[0], span[1]) == key:
                        found.setdefault(span[2], []).append(
                            dict(zip(SPAN_RESULT_OUT, span[3:], strict=True))
                        )
                yield record, found


def parse_json_text(text):
    """A JSON column read as text (``run_result_records``): orjson, or the standard parser
    for what orjson refuses (SQLite may store NaN)."""
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        import json

        return json.loads(text)


def run_result_rows_iter(run: EvaluationRun) -> Iterator[dict]:
    """Every result row as a JSON-ready dict, in dataset order, streamed (see
    ``run_result_records``).

    ``metrics`` is keyed by the binding's column label (the metric's name, or
    "name (vN) · agent" where names repeat), so a metric bound twice, or the same metric on
    two agents, keeps one entry each; every entry also names its ``binding_id``.
    """
    from runs.columns import run_columns

    columns = run_columns(run)
    layout = RecordLayout(columns)
    for record, spans in run_result_records(run, columns.bindings):
        yield layout.row_dict(record, spans)


def record_key(value) -> str:
    """A UUID as ``run_result_records`` reads it back: text (PostgreSQL's form, or the 32 hex
    characters SQLite stores)."""
    value = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    return str(value) if connection.vendor == "postgresql" else value.hex


class RecordLayout:
    """How to read the records of ``run_result_records`` for one run's columns."""

    def __init__(self, columns):
        self.columns = columns
        self.task_width = len(RECORD_TASK_COLUMNS)
        self.result_width = len(RECORD_RESULT_COLUMNS)
        self.entries = {record_key(e.id): e for e in columns.entries}
        # Per entry (as read): its bindings as (record offset, id as read, binding).
        self.bindings_of: dict = {key: [] for key in self.entries}
        for index, binding in enumerate(columns.bindings):
            offset = self.task_width + index * self.result_width
            stored = record_key(binding.id)
            self.bindings_of.setdefault(record_key(binding.entry_id), []).append(
                (offset, stored, binding)
            )

    def row_dict(self, record: tuple, spans: dict) -> dict:
        (position, trial, task_id, entry_id, status, error, data, outputs, input_tokens) = record[
            :9
        ]
        latency_ms, chunks, task_spans, cost, cached = record[10:15]
        entry = self.entries.get(entry_id)
        metrics = {}
        for offset, stored, binding in self.bindings_of.get(entry_id, ()):
            result = record[offset : offset + self.result_width]
            value = {
                "binding_id": str(binding.id),
                "metric_id": str(binding.metric_id),
                "metric_name": binding.metric_name,
                "metric_version": binding.metric_version_number,
            }
            if result[0] is None:
                value.update(_NO_RESULT)
            else:
                value.update(
                    number_value=result[1],
                    string_value=result[2],
                    reasoning=result[3],
                    error_description=result[4],
                )
                if result[5] is not None:
                    value["cost"] = result[5]
            if stored in spans:
                value["span_results"] = spans[stored]
            metrics[binding.label] = value
        workflow = None
        if entry is not None and entry.workflow_name is not None:
            workflow = {
                "name": entry.workflow_name,
                "outputs": parse_json_text(outputs),
                "input_tokens": input_tokens,
                "output_tokens": record[9],
                "latency_ms": latency_ms,
                "chunks": parse_json_text(chunks),
                "spans": parse_json_text(task_spans),
                "cost": cost,
                "cached": bool(cached),
            }
        return {
            "row": position,
            "trial": trial,
            "task_id": task_id,
            "status": status,
            "error": error,
            "data": parse_json_text(data),
            "workflow": workflow,
            "metrics": metrics,
        }


SPAN_RESULT_OUT = (
    "span_index",
    "span_id",
    "span_name",
    "number_value",
    "reasoning",
    "error_description",
)


# --- summaries -----------------------------------------------------------------------------------


def run_metric_summaries(run: EvaluationRun) -> list[dict]:
    """Run-level summary per metric binding, in column order. Finished runs read the stored
    summaries; active runs compute them live from the results written so far."""
    from runs.engine.finish import compute_summaries

    summaries = run.summaries or {}
    if run.status in (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.CANCELLING) or not summaries:
        summaries, _ = compute_summaries(run)
    rows = []
    bindings = list(run_bindings(run))
    # Span-level bindings: mean and share failing over their spans (one query, only then).
    span_summaries = run_span_summaries(run.id) if any(b.span_type for b in bindings) else {}
    for binding in bindings:
        metric = binding.metric_version.metric
        workflow = binding.entry.workflow_version
        summary = dict(summaries.get(str(binding.id)) or {})
        summary.update(
            binding_id=str(binding.id),
            metric_id=str(metric.id),
            metric_name=metric.name,
            metric_version_id=str(binding.metric_version_id),
            metric_version_number=binding.metric_version.number,
            value_type=metric.value_type,
            inverted=metric.inverted,
            range_min=metric.range_min,
            range_max=metric.range_max,
            is_star=binding.id == run.star_binding_id,
            entry_position=binding.entry.position,
            workflow_name=workflow.workflow.name if workflow else None,
        )
        if binding.span_type:
            summary.update(span_type=binding.span_type, span_summary=span_summaries.get(binding.id))
        rows.append(summary)
    return rows


def parse_uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None
