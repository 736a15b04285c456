"""Parsing uploaded CSV, JSON and JSONL files into rows, one row at a time.

A parser yields ``(line_number, row)`` pairs; problems with one row are reported through
``RowProblem`` values in the same stream so that the importer can collect every bad row with
its line number, while problems with the whole file (empty, not UTF-8, no header...) raise
``FileProblem`` at once.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from evalsite import safe_json

FORMATS = ("csv", "json", "jsonl")
_EXTENSIONS = {"csv": "csv", "json": "json", "jsonl": "jsonl", "ndjson": "jsonl"}


class FileProblem(Exception):
    """The whole file is unusable; the message says why."""


@dataclass
class RowProblem:
    line: int
    message: str


def format_for(filename: str, requested: str = "") -> str:
    """The import format: the one asked for, else the one the file name's extension says."""
    if requested:
        fmt = requested.strip().lower()
        if fmt not in FORMATS:
            raise FileProblem(f"Unknown format {requested!r}: use csv, json or jsonl.")
        return fmt
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension not in _EXTENSIONS:
        raise FileProblem(
            "Cannot tell the format from the file name: name it .csv, .json or .jsonl, "
            "or choose the format."
        )
    return _EXTENSIONS[extension]


class _Utf8Lines:
    """Decodes a binary file line by line, counting bytes against the upload limit."""

    def __init__(self, stream: IO[bytes], *, max_bytes: int):
        self.stream = stream
        self.max_bytes = max_bytes
        self.bytes_read = 0
        self.line = 0

    def __iter__(self) -> Iterator[str]:
        for raw in self.stream:
            self.line += 1
            self.bytes_read += len(raw)
            if self.bytes_read > self.max_bytes:
                raise FileProblem(_too_big(self.max_bytes))
            if self.line == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise FileProblem(
                    f"The file is not UTF-8 text (line {self.line}, byte {exc.start + 1} "
                    "cannot be decoded). Save it as UTF-8 and upload it again."
                ) from exc


def _too_big(max_bytes: int) -> str:
    return f"The file is larger than the {max_bytes // (1024 * 1024)} MB upload limit."


Parsed = Iterator[tuple[int, dict] | RowProblem]


def parse(stream: IO[bytes], fmt: str, *, max_bytes: int, max_row_bytes: int) -> Parsed:
    if csv.field_size_limit() < max_row_bytes:
        csv.field_size_limit(max_row_bytes)
    lines = _Utf8Lines(stream, max_bytes=max_bytes)
    if fmt == "csv":
        return _checked(_parse_csv(lines))
    if fmt == "jsonl":
        return _checked(_parse_jsonl(lines))
    return _checked(_parse_json(lines))


def _checked(rows: Parsed) -> Parsed:
    """Rows that can be stored: too-deep nesting, NUL characters and lone surrogates (which
    PostgreSQL or the UTF-8 encoder refuse) become row problems naming the field."""
    for row in rows:
        if isinstance(row, RowProblem):
            yield row
            continue
        try:
            safe_json.check(row[1])
        except safe_json.UnsafeJSON as exc:
            yield RowProblem(row[0], exc.message)
            continue
        yield row


def _parse_csv(lines: _Utf8Lines) -> Parsed:
    reader = csv.reader(lines, strict=True)
    header: list[str] | None = None
    rows = 0
    try:
        for record in reader:
            if header is None:
                if not record or all(not cell.strip() for cell in record):
                    continue  # blank lines before the header
                header = _check_header(record)
                continue
            if not record:
                continue  # a blank line
            rows += 1
            line = reader.line_num
            if len(record) != len(header):
                yield RowProblem(
                    line,
                    f"expected {len(header)} fields like the header, found {len(record)}.",
                )
                continue
            yield line, dict(zip(header, record, strict=True))
    except csv.Error as exc:
        rows += 1
        yield RowProblem(reader.line_num, f"malformed CSV: {exc}.")
    if header is None:
        raise FileProblem("The file is empty.")
    if not rows:
        raise FileProblem("The file has a header line but no rows.")


def _check_header(record: list[str]) -> list[str]:
    names = [cell.strip() for cell in record]
    for index, name in enumerate(names, start=1):
        if not name:
            raise FileProblem(
                f"The first line must be a header naming every column; column {index} has no name."
            )
    if all(_looks_like_number(name) for name in names):
        raise FileProblem(
            "The first line looks like data, not a header: add a header line naming the columns."
        )
    seen: set[str] = set()
    duplicates = [name for name in names if name in seen or seen.add(name)]
    if duplicates:
        raise FileProblem(f"Duplicate column names in the header: {', '.join(duplicates)}.")
    return names


def _looks_like_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _describe(value) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _parse_jsonl(lines: _Utf8Lines) -> Parsed:
    any_row = False
    for text in lines:
        if not text.strip():
            continue
        any_row = True
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            yield RowProblem(lines.line, f"invalid JSON: {exc.msg} (column {exc.colno}).")
            continue
        except RecursionError:
            yield RowProblem(lines.line, "the JSON is nested too deeply.")
            continue
        if not isinstance(value, dict):
            yield RowProblem(lines.line, f"expected a JSON object, found {_describe(value)}.")
            continue
        yield lines.line, value
    if not any_row:
        raise FileProblem("The file is empty.")


def _parse_json(lines: Iterable[str]) -> Parsed:
    """A JSON array of objects, decoded one element at a time to report line numbers."""
    text = "".join(lines)
    decoder = json.JSONDecoder()
    index = _skip_space(text, 0)
    if index == len(text):
        raise FileProblem("The file is empty.")
    if text[index] != "[":
        raise FileProblem("The file must hold a JSON array of objects ([{...}, {...}]).")
    index = _skip_space(text, index + 1)
    line, counted_to = 1, 0
    expect_item = True
    any_row = False
    while index < len(text):
        if text[index] == "]" and (not any_row or not expect_item):
            if _skip_space(text, index + 1) != len(text):
                raise FileProblem("Unexpected text after the end of the JSON array.")
            if not any_row:
                raise FileProblem("The JSON array is empty.")
            return
        line += text.count("\n", counted_to, index)
        counted_to = index
        if not expect_item:
            if text[index] != ",":
                raise FileProblem(f"Invalid JSON on line {line}: expected ',' or ']'.")
            index = _skip_space(text, index + 1)
            expect_item = True
            continue
        try:
            value, end = decoder.raw_decode(text, index)
        except json.JSONDecodeError as exc:
            raise FileProblem(f"Invalid JSON on line {exc.lineno}: {exc.msg}.") from exc
        except RecursionError:
            raise FileProblem(f"The JSON on line {line} is nested too deeply.") from None
        any_row = True
        if isinstance(value, dict):
            yield line, value
        else:
            yield RowProblem(line, f"expected a JSON object, found {_describe(value)}.")
        index = _skip_space(text, end)
        expect_item = False
    raise FileProblem("Invalid JSON: the array is not closed with ']'.")


def _skip_space(text: str, index: int) -> int:
    length = len(text)
    while index < length and text[index] in " \t\r\n":
        index += 1
    return index
