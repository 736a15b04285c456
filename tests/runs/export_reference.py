"""The result downloads as they were written before h19r (ORM rows, one dict per row, then
``orjson``), kept only as the reference the faster downloads are byte-compared with
(``tests/runs/test_export_bytes.py``). Not used by the product."""

# ruff: noqa
from __future__ import annotations

import io
from collections.abc import Iterable, Iterator

import orjson
from django.db.models import Max, TextField
from django.db.models.functions import Cast

from evalsite import csvsafe
from runs.columns import RunColumns, run_columns
from runs.models import EvaluationRun, MetricResult, RunTask
from runs.selectors import sql_is_postgresql
from runs.usage import run_usage
from traces.span_scoring import span_results_by_task

EXPORT_CHUNK = 2000
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

ROWS_PER_CHUNK = 200
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS


def _json_bytes(value) -> bytes:
    # orjson: several times faster than json.dumps on 100,000-row downloads, and it writes
    # NaN as null instead of invalid JSON.
    return orjson.dumps(value, default=str, option=_ORJSON_OPTIONS)


def _dumps(value) -> str:
    return _json_bytes(value).decode()


def _json_chunks(run: EvaluationRun, rows: Iterable[dict]) -> Iterator[bytes]:
    header = {
        "id": str(run.id),
        "name": run.name,
        "status": run.status,
        "mode": run.mode,
        "dataset_id": str(run.dataset_version.dataset_id),
        "dataset_version_id": str(run.dataset_version_id),
        "dataset_version": run.dataset_version.number,
        "pass_status": run.pass_status,
        "config": run.config,
        "repetitions": run.repetitions,
        "usage": run_usage(run),
    }
    yield _json_bytes(header)[:-1] + b', "results": ['
    parts: list[bytes] = []
    separator = b"\n"
    for row in rows:
        parts.append(separator + _json_bytes(row))
        separator = b",\n"
        if len(parts) >= ROWS_PER_CHUNK:
            yield b"".join(parts)
            parts = []
    parts.append(b"\n]}\n")
    yield b"".join(parts)


def _jsonl_chunks(rows: Iterable[dict]) -> Iterator[bytes]:
    parts: list[bytes] = []
    for row in rows:
        parts.append(_json_bytes(row) + b"\n")
        if len(parts) >= ROWS_PER_CHUNK:
            yield b"".join(parts)
            parts = []
    if parts:
        yield b"".join(parts)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return _dumps(value)
    return str(value)


def _metric_values(row: dict) -> dict[str, dict]:
    """{binding id: result} of one row (its metrics are keyed by column label)."""
    metrics = row.get("metrics") or {}
    values = metrics if isinstance(metrics, list) else metrics.values()
    return {str(m.get("binding_id")): m for m in values}


def _csv_chunks(columns: RunColumns, rows: Iterable[dict]) -> Iterator[str]:
    outputs = sorted({name for entry in columns.entries for name in entry.output_names})
    # One column group per metric binding, labelled as the results table labels it.
    bindings = [(str(b.id), b.label) for b in columns.bindings]
    header = ["row", "status", "error", "trial"]
    header += [f"dataset.{c}" for c in columns.dataset_columns]
    if columns.entries and columns.entries[0].workflow_id is not None:
        header += ["workflow", *[f"output.{o}" for o in outputs]]
        header += ["input_tokens", "output_tokens", "latency_ms", "cost", "cached"]
    for _, label in bindings:
        header += [f"{label}", f"{label}.reasoning", f"{label}.error"]
    buffer = io.StringIO()
    writer = csvsafe.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)
        return text

    writer.writerow(header)
    yield flush()
    with_workflow = "workflow" in header
    for index, row in enumerate(rows):
        data = row.get("data") or {}
        line = [row.get("row", row.get("position")), row.get("status"), row.get("error")]
        line += [row.get("trial", 0)]
        line += [_cell(data.get(c)) for c in columns.dataset_columns]
        if with_workflow:
            workflow = row.get("workflow") or {}
            row_outputs = workflow.get("outputs") or row.get("outputs") or {}
            line += [workflow.get("name", "")]
            line += [_cell(row_outputs.get(o)) for o in outputs]
            line += [
                _cell(workflow.get(key, row.get(key)))
                for key in ("input_tokens", "output_tokens", "latency_ms", "cost", "cached")
            ]
        results = _metric_values(row)
        for binding_id, _ in bindings:
            result = results.get(binding_id) or {}
            value = result.get("number_value")
            if value is None:
                value = result.get("string_value")
            line += [
                _cell(value),
                result.get("reasoning", ""),
                result.get("error_description", ""),
            ]
        writer.writerow(line)
        if index % ROWS_PER_CHUNK == ROWS_PER_CHUNK - 1:
            yield flush()
    yield flush()


def reference_download(run: EvaluationRun, fmt: str) -> bytes:
    rows = run_result_rows_iter(run, raw_json=fmt != "csv")
    if fmt == "json":
        chunks = _json_chunks(run, rows)
    elif fmt == "jsonl":
        chunks = _jsonl_chunks(rows)
    else:
        chunks = _csv_chunks(run_columns(run), rows)
    return b"".join(c if isinstance(c, bytes) else c.encode("utf-8") for c in chunks)
