"""Downloading a run's results: the whole result set, streamed as JSON, JSONL or CSV.

One line per trial (``trial`` 0..repetitions-1; a run without repetitions has trial 0 only),
with the agent call's ``cost`` and whether it came from the call cache.

Written straight from the records of ``runs.selectors.run_result_records`` (one query over
server-side cursors, read in fetches), so memory stays flat for any run size and no dict is
built per row: JSON and JSONL rows are assembled as bytes (the same bytes ``orjson`` writes
for the row's dict, byte-compared in ``tests/runs/test_export_bytes.py``).
Refused with ``ConflictError`` while the run is still working. The UI and both API dialects
return these responses as they are.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import orjson
from django.db import connection
from django.http import StreamingHttpResponse
from django.utils.text import slugify

from evalsite import csvsafe
from evalsite.errors import ConflictError
from runs.columns import RunColumns, run_columns
from runs.models import EvaluationRun
from runs.selectors import RecordLayout, parse_json_text, record_key, run_result_records
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


class _RowJson:
    """The JSON bytes of one result row, straight from a ``run_result_records`` record:
    the same bytes ``orjson.dumps`` writes for the row's dict
    (``runs.selectors.RecordLayout.row_dict``), without building that dict. On PostgreSQL
    the JSON columns are embedded as jsonb's own text (as ``orjson.Fragment`` would);
    SQLite's stored text is parsed and written compactly."""

    def __init__(self, columns: RunColumns):
        self.layout = RecordLayout(columns)
        self.raw = connection.vendor == "postgresql"
        width = self.layout.result_width
        self.bindings_of = {
            entry: [
                (
                    offset,
                    offset + width,
                    stored,
                    _json_bytes(binding.label)
                    + b":"
                    + _json_bytes(
                        {
                            "binding_id": str(binding.id),
                            "metric_id": str(binding.metric_id),
                            "metric_name": binding.metric_name,
                            "metric_version": binding.metric_version_number,
                        }
                    )[:-1],
                )
                for offset, stored, binding in bindings
            ]
            for entry, bindings in self.layout.bindings_of.items()
        }
        self.workflow_names = {
            key: None if e.workflow_name is None else _json_bytes(e.workflow_name)
            for key, e in self.layout.entries.items()
        }

    def embed(self, text) -> bytes:
        if text is None:
            return b"null"
        if self.raw:
            return text.encode()
        return _json_bytes(parse_json_text(text))

    def __call__(self, record: tuple, spans: dict) -> bytes:
        dumps = orjson.dumps  # scalars only: no options needed
        entry_id = record[3]
        parts = [
            b'{"row":',
            dumps(record[0]),
            b',"trial":',
            dumps(record[1]),
            b',"task_id":',
            dumps(record[2]),
            b',"status":',
            dumps(record[4]),
            b',"error":',
            dumps(record[5]),
            b',"data":',
            self.embed(record[6]),
        ]
        name = self.workflow_names.get(entry_id)
        if name is None:
            parts.append(b',"workflow":null,"metrics":{')
        else:
            parts += [
                b',"workflow":{"name":',
                name,
                b',"outputs":',
                self.embed(record[7]),
                b',"input_tokens":',
                dumps(record[8]),
                b',"output_tokens":',
                dumps(record[9]),
                b',"latency_ms":',
                dumps(record[10]),
                b',"chunks":',
                self.embed(record[11]),
                b',"spans":',
                self.embed(record[12]),
                b',"cost":',
                dumps(record[13]),
                b',"cached":',
                b"true" if record[14] else b"false",
                b'},"metrics":{',
            ]
        separator = b""
        for start, stop, stored, head in self.bindings_of.get(entry_id, ()):
            _id, number, string, reasoning, error, cost = record[start:stop]
            parts.append(separator)
            parts.append(head)
            separator = b","
            if _id is None:
                parts.append(_NO_RESULT_JSON)
            else:
                parts += [
                    b',"number_value":',
                    dumps(number),
                    b',"string_value":',
                    dumps(string),
                    b',"reasoning":',
                    dumps(reasoning),
                    b',"error_description":',
                    dumps(error),
                ]
                if cost is not None:
                    parts += [b',"cost":', dumps(cost)]
            if stored in spans:
                parts += [b',"span_results":', _json_bytes(spans[stored])]
            parts.append(b"}")
        parts.append(b"}}")
        return b"".join(parts)


_NO_RESULT_JSON = b',"number_value":null,"string_value":null,"reasoning":"","error_description":""'


def _records(run: EvaluationRun, columns: RunColumns):
    return run_result_records(run, columns.bindings)


def _json_chunks(run: EvaluationRun, columns: RunColumns) -> Iterator[bytes]:
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
    row_json = _RowJson(columns)
    parts: list[bytes] = []
    separator = b"\n"
    for record, spans in _records(run, columns):
        parts.append(separator)
        parts.append(row_json(record, spans))
        separator = b",\n"
        if len(parts) >= 2 * ROWS_PER_CHUNK:
            yield b"".join(parts)
            parts = []
    parts.append(b"\n]}\n")
    yield b"".join(parts)


def _jsonl_chunks(run: EvaluationRun, columns: RunColumns) -> Iterator[bytes]:
    row_json = _RowJson(columns)
    parts: list[bytes] = []
    for record, spans in _records(run, columns):
        parts.append(row_json(record, spans))
        parts.append(b"\n")
        if len(parts) >= 2 * ROWS_PER_CHUNK:
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


def csv_header(columns: RunColumns) -> list[str]:
    """The CSV download's columns: row, status, error, trial; ``dataset.<column>`` per
    dataset column; with an agent its name, ``output.<name>`` per output and the call's
    tokens, latency, cost and cache flag; per metric binding its value, ``.reasoning`` and
    ``.error``, and for a span-level binding ``.span_results`` (the row's span results as a
    JSON array: span_index, span_id, span_name, number_value, reasoning, error_description;
    empty when it scored no span)."""
    outputs = _output_names(columns)
    header = ["row", "status", "error", "trial"]
    header += [f"dataset.{c}" for c in columns.dataset_columns]
    if columns.entries and columns.entries[0].workflow_id is not None:
        header += ["workflow", *[f"output.{o}" for o in outputs]]
        header += ["input_tokens", "output_tokens", "latency_ms", "cost", "cached"]
    for binding in columns.bindings:
        label = binding.label
        header += [f"{label}", f"{label}.reasoning", f"{label}.error"]
        if binding.span_type:
            header.append(f"{label}.span_results")
    return header


def _output_names(columns: RunColumns) -> list[str]:
    return sorted({name for entry in columns.entries for name in entry.output_names})


def _csv_chunks(run: EvaluationRun, columns: RunColumns) -> Iterator[str]:
    layout = RecordLayout(columns)
    outputs = _output_names(columns)
    header = csv_header(columns)
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
    dataset_columns = columns.dataset_columns
    # Per binding: where its result sits in a record, and whether it has a span column.
    bindings = [
        (
            layout.task_width + index * layout.result_width,
            record_key(binding.id),
            record_key(binding.entry_id),
            bool(binding.span_type),
        )
        for index, binding in enumerate(columns.bindings)
    ]
    names = {key: entry.workflow_name for key, entry in layout.entries.items()}
    for index, (record, spans) in enumerate(_records(run, columns)):
        data = parse_json_text(record[6]) or {}
        line = [record[0], record[4], record[5], record[1]]
        line += [_cell(data.get(c)) for c in dataset_columns]
        entry_id = record[3]
        if with_workflow:
            name = names.get(entry_id)
            if name is None:
                line += [""] + [""] * len(outputs) + [""] * 5
            else:
                row_outputs = parse_json_text(record[7]) or {}
                line += [name]
                line += [_cell(row_outputs.get(o)) for o in outputs]
                line += [
                    _cell(record[8]),
                    _cell(record[9]),
                    _cell(record[10]),
                    _cell(record[13]),
                    _cell(bool(record[14])),
                ]
        for offset, stored, binding_entry, has_spans in bindings:
            if binding_entry != entry_id or record[offset] is None:
                line += ["", "", ""]
            else:
                value = record[offset + 1]
                if value is None:
                    value = record[offset + 2]
                line += [_cell(value), record[offset + 3], record[offset + 4]]
            if has_spans:
                line.append(_cell(spans.get(stored)) if binding_entry == entry_id else "")
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
    columns = run_columns(run)
    if fmt == "json":
        chunks = _json_chunks(run, columns)
    elif fmt == "jsonl":
        chunks = _jsonl_chunks(run, columns)
    else:
        chunks = _csv_chunks(run, columns)
    filename = f"{slugify(run.name) or 'run'}-results.{fmt}"
    response = StreamingHttpResponse(
        (chunk if isinstance(chunk, bytes) else chunk.encode("utf-8") for chunk in chunks),
        content_type=FORMATS[fmt],
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
