"""Downloading a run's results: the whole result set, streamed as JSON, JSONL or CSV.

One line per trial (``trial`` 0..repetitions-1; a run without repetitions has trial 0 only),
with the agent call's ``cost`` and whether it came from the call cache.

Built on ``runs.selectors.run_result_rows_iter`` (keyset chunks), so memory stays flat for
any run size. Refused with ``ConflictError`` while the run is still working. The UI and both
API dialects return these responses as they are.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator

import orjson
from django.http import StreamingHttpResponse
from django.utils.text import slugify

from evalsite import csvsafe
from evalsite.errors import ConflictError
from runs.columns import RunColumns, run_columns
from runs.models import EvaluationRun
from runs.selectors import run_result_rows_iter
from runs.usage import run_usage

FORMATS = {
    "json": "application/json",
    "jsonl": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
}


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


def run_results_download(run: EvaluationRun, *, fmt: str = "json") -> StreamingHttpResponse:
    """A streamed attachment with every result row of a finished run.

    Raises ``ConflictError`` while the run is still active and ``ValueError`` for an unknown
    format (callers check ``fmt in FORMATS`` first).
    """
    if fmt not in FORMATS:
        raise ValueError(f"Unknown download format {fmt!r}.")
    if run.is_active:
        raise ConflictError(
            "The run is still in progress; download its results when it has finished.",
            code="run_active",
        )
    rows = run_result_rows_iter(run, raw_json=fmt != "csv")
    if fmt == "json":
        chunks = _json_chunks(run, rows)
    elif fmt == "jsonl":
        chunks = _jsonl_chunks(rows)
    else:
        chunks = _csv_chunks(run_columns(run), rows)
    filename = f"{slugify(run.name) or 'run'}-results.{fmt}"
    response = StreamingHttpResponse(
        (chunk if isinstance(chunk, bytes) else chunk.encode("utf-8") for chunk in chunks),
        content_type=FORMATS[fmt],
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
