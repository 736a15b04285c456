"""Reads over runs that the UI and both API dialects share.

Results pages use keyset pagination (an opaque cursor after the last row) so page 2,000 of a
100,000-row run costs what page 1 costs; exports stream in keyset chunks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import orjson
from django.db.models import Max, QuerySet, TextField
from django.db.models.functions import Cast

from runs.models import (
    EvaluationRun,
    MetricBinding,
    MetricResult,
    RunStatus,
    RunTask,
)
from traces.span_scoring import run_span_summaries, span_results_by_task

EXPORT_CHUNK = 2000


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


def run_result_rows_iter(run: EvaluationRun, *, raw_json: bool = False) -> Iterator[dict]:
    """Every result row as a JSON-ready dict, in dataset order, streamed in keyset chunks.

    ``metrics`` is keyed by the binding's column label (the metric's name, or
    "name (vN) · agent" where names repeat), so a metric bound twice, or the same metric on
    two agents, keeps one entry each; every entry also names its ``binding_id``.

    ``raw_json`` (for JSON serialisers that embed ``orjson.Fragment``): on PostgreSQL the JSON
    columns (item data, outputs, chunks, spans) come back as the database's own JSON text in
    an ``orjson.Fragment`` instead of being parsed here and serialised again -- most of a
    download's CPU otherwise. jsonb text is always valid JSON; SQLite's stored text may not be
    (NaN), so there the values are parsed as usual.
    """
    from runs.columns import run_columns

    columns = run_columns(run)
    bindings = columns.bindings
    entries = {e.id: e.workflow_name for e in columns.entries}
    json_fields = ("outputs", "chunks", "spans", "item__data")
    fields = (
        "id",
        "position",
        "entry_id",
        "status",
        "error",
        "input_tokens",
        "output_tokens",
        "latency_ms",
        "trial",
        "cost",
        "cached",
    )
    raw = raw_json and sql_is_postgresql()
    casts = {}
    if raw:
        casts = {f"{name}__text": Cast(name, TextField()) for name in json_fields}
    else:
        fields = fields + json_fields
    # Per binding, what every row repeats (ids as strings once, not once per row).
    per_binding = [
        (
            binding.entry_id,
            binding.id,
            binding.label,
            {
                "binding_id": str(binding.id),
                "metric_id": str(binding.metric_id),
                "metric_name": binding.metric_name,
                "metric_version": binding.metric_version_number,
            },
        )
        for binding in bindings
    ]
    # Item positions are dense (0..n-1), so chunks are position ranges: each is a plain
    # range scan of the (run, position, id) index, on SQLite and PostgreSQL alike; the
    # chunk's results are read by the same position range (no list of ids to send).
    tasks = RunTask.objects.filter(run=run)
    last_position = tasks.aggregate(last=Max("position"))["last"]
    per_chunk = max(1, EXPORT_CHUNK // max(1, len(entries) or 1))
    for start in range(0, -1 if last_position is None else last_position + 1, per_chunk):
        stop = start + per_chunk
        chunk = list(
            tasks.filter(position__gte=start, position__lt=stop)
            .order_by("position", "id")
            .values(*fields, **casts)
        )
        if not chunk:
            continue
        if raw:
            for row in chunk:
                for name in json_fields:
                    text = row.pop(f"{name}__text")
                    row[name] = None if text is None else orjson.Fragment(text)
        results: dict[int, dict] = {row["id"]: {} for row in chunk}
        values = MetricResult.objects.filter(
            task__run=run, task__position__gte=start, task__position__lt=stop
        ).values_list(
            "task_id",
            "binding_id",
            "number_value",
            "string_value",
            "reasoning",
            "error_description",
            "cost",
        )
        for task_id, binding_id, number, string, reasoning, error, cost in values.order_by():
            found = results.get(task_id)
            if found is not None:
                found[binding_id] = {
                    "number_value": number,
                    "string_value": string,
                    "reasoning": reasoning,
                    "error_description": error,
                    **({"cost": cost} if cost is not None else {}),
                }
        span_results = span_results_by_task(results)
        for row in chunk:
            metrics = {}
            mine = results[row["id"]]
            for entry_id, binding_id, label, static in per_binding:
                if entry_id != row["entry_id"]:
                    continue
                metrics[label] = {**static, **mine.get(binding_id, _NO_RESULT)}
                spans = _span_results_of(span_results.get(row["id"]), binding_id)
                if spans is not None:
                    metrics[label]["span_results"] = spans
            yield {
                "row": row["position"],
                "trial": row["trial"],
                "task_id": row["id"],
                "status": row["status"],
                "error": row["error"],
                "data": row["item__data"],
                "workflow": None
                if entries.get(row["entry_id"]) is None
                else {
                    "name": entries[row["entry_id"]],
                    "outputs": row["outputs"],
                    "input_tokens": row["input_tokens"],
                    "output_tokens": row["output_tokens"],
                    "latency_ms": row["latency_ms"],
                    "chunks": row["chunks"],
                    "spans": row["spans"],
                    "cost": row["cost"],
                    "cached": row["cached"],
                },
                "metrics": metrics,
            }


def _span_results_of(results: list[dict] | None, binding_id) -> list[dict] | None:
    """The span results of one binding on one row (None when it has none)."""
    spans = [
        {k: r[k] for k in SPAN_RESULT_OUT} for r in results or () if r["binding_id"] == binding_id
    ]
    return spans or None


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
