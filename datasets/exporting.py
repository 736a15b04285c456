"""Streamed exports of a version as CSV, JSON (one array) or JSONL, in position order.

Rows are read with a server-side iterator and written out in chunks, so memory stays flat
whatever the size of the version. JSON and JSONL reuse the stored JSON text as it is.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

from django.core.exceptions import ValidationError
from django.db.models import TextField
from django.db.models.functions import Cast
from django.http import StreamingHttpResponse

from datasets import conf
from datasets.models import DatasetItem, DatasetVersion
from evalsite import csvsafe

EXPORT_FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "jsonl": "application/x-ndjson",
}
_ROWS_PER_CHUNK = 500


def check_format(fmt: str) -> str:
    fmt = (fmt or "").strip().lower()
    if fmt not in EXPORT_FORMATS:
        raise ValidationError({"format": ["Choose csv, json or jsonl."]})
    return fmt


def export_filename(version: DatasetVersion, fmt: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in version.dataset.name)
    return f"{safe or 'dataset'}-v{version.number}.{fmt}"


def _items(version: DatasetVersion):
    return DatasetItem.objects.filter(version=version).order_by("position")


def _raw_json(version: DatasetVersion) -> Iterator[str]:
    return (
        _items(version)
        .annotate(raw=Cast("data", TextField()))
        .values_list("raw", flat=True)
        .iterator(chunk_size=conf.EXPORT_CHUNK_SIZE)
    )


def _chunked(lines: Iterator[str]) -> Iterator[bytes]:
    buffer: list[str] = []
    for line in lines:
        buffer.append(line)
        if len(buffer) >= _ROWS_PER_CHUNK:
            yield "".join(buffer).encode()
            buffer = []
    if buffer:
        yield "".join(buffer).encode()


def export_stream(version: DatasetVersion, fmt: str) -> Iterator[bytes]:
    fmt = check_format(fmt)
    if fmt == "jsonl":
        return _chunked(raw + "\n" for raw in _raw_json(version))
    if fmt == "json":
        return _chunked(_json_array(version))
    return (text.encode() for text in _csv_lines(version))


def _json_array(version: DatasetVersion) -> Iterator[str]:
    first = True
    for raw in _raw_json(version):
        yield ("[\n" if first else ",\n") + raw
        first = False
    yield "[]\n" if first else "\n]\n"


def _cell(value) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False)


def _csv_lines(version: DatasetVersion) -> Iterator[str]:
    """CSV text in blocks of rows (csv.writer over a reused buffer, rows decoded directly)."""
    columns = version.column_names()
    buffer = io.StringIO()
    writer = csvsafe.writer(buffer)
    writer.writerow(columns)
    loads = json.loads
    block = []
    for raw in _raw_json(version):
        data = loads(raw)
        block.append([_cell(data.get(name)) for name in columns])
        if len(block) >= _ROWS_PER_CHUNK:
            writer.writerows(block)
            block = []
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    writer.writerows(block)
    yield buffer.getvalue()


def export_response(version: DatasetVersion, fmt: str) -> StreamingHttpResponse:
    """The streamed download of a version, for the UI and the API alike."""
    fmt = check_format(fmt)
    response = StreamingHttpResponse(export_stream(version, fmt), content_type=EXPORT_FORMATS[fmt])
    response["Content-Disposition"] = f'attachment; filename="{export_filename(version, fmt)}"'
    return response
