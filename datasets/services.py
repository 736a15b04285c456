"""Every write to datasets. UI views and API views call these and nothing else.

Bad input raises ``ValidationError`` (field -> messages); a write to a released version
raises ``ConflictError``. Each service runs in one transaction: on error nothing changes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import IO

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, ProtectedError
from django.utils import timezone

from datasets import bulk, conf, importing
from datasets.columns import ColumnSet, is_trace_shaped
from datasets.models import Dataset, DatasetItem, DatasetVersion, VersionStatus
from evalsite.errors import ConflictError


class ImportFailed(ValidationError):
    """An import found bad rows (or a bad file); ``problems`` lists them, nothing was written."""

    def __init__(self, problems: list[importing.RowProblem], *, total: int, file_error: str = ""):
        self.problems = problems
        self.total = total
        self.file_error = file_error
        messages = [file_error] if file_error else []
        messages += [f"Line {p.line}: {p.message}" for p in problems]
        if total > len(problems):
            messages.append(f"… and {total - len(problems)} more problems.")
        super().__init__({"file": messages})


@dataclass
class ImportReport:
    rows_imported: int
    row_count: int
    columns: list[dict] = field(default_factory=list)


def _touch(dataset: Dataset) -> None:
    Dataset.objects.filter(pk=dataset.pk).update(updated_at=timezone.now())


def _locked_draft(version: DatasetVersion) -> DatasetVersion:
    """Re-read the version under a row lock and refuse it unless it is a draft."""
    locked = DatasetVersion.objects.select_for_update().select_related("dataset").get(pk=version.pk)
    locked.ensure_draft()
    return locked


def _encode_row(data, *, where: str) -> str:
    if not isinstance(data, dict):
        raise ValidationError({where: ["A row must be a JSON object of column -> value."]})
    if not data:
        raise ValidationError({where: ["A row needs at least one field."]})
    text = json.dumps(data, ensure_ascii=False)
    if len(text.encode()) > conf.max_row_bytes():
        raise ValidationError(
            {where: [f"The row is larger than the {conf.max_row_bytes() // 1024} KB row limit."]}
        )
    return text


# Datasets ---------------------------------------------------------------------------------


@transaction.atomic
def dataset_create(*, project, name: str, description: str = "", user=None) -> Dataset:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": ["Give the dataset a name."]})
    if len(name) > 200:
        raise ValidationError({"name": ["Use at most 200 characters."]})
    if Dataset.objects.filter(project=project, name=name).exists():
        raise ValidationError({"name": [f"This project already has a dataset named {name}."]})
    return Dataset.objects.create(
        project=project, name=name, description=description or "", created_by=user
    )


@transaction.atomic
def dataset_delete(*, dataset: Dataset) -> None:
    """Delete a dataset and its versions, unless evaluation runs still use them."""
    runs = _runs_using(DatasetVersion.objects.filter(dataset=dataset))
    if runs:
        raise ConflictError(
            f"Dataset {dataset.name} cannot be deleted: {runs} evaluation run(s) use its "
            "versions. Delete those runs first.",
            code="dataset_in_use",
        )
    try:
        bulk.delete_items(list(dataset.versions.values_list("pk", flat=True)))
        dataset.delete()
    except ProtectedError as exc:
        raise ConflictError(
            f"Dataset {dataset.name} cannot be deleted: {len(exc.protected_objects)} object(s) "
            "still refer to it.",
            code="dataset_in_use",
        ) from exc


def _runs_using(versions) -> int:
    related = getattr(DatasetVersion, "evaluation_runs", None)
    if related is None:
        return 0
    model = related.rel.related_model
    return model._base_manager.filter(**{f"{related.rel.field.name}__in": versions}).count()


# Versions ---------------------------------------------------------------------------------


@transaction.atomic
def version_create_draft(
    *, dataset: Dataset, from_version: DatasetVersion | None = None, user=None
) -> DatasetVersion:
    """A new draft: empty, or a copy (made inside the database) of a released version."""
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    if from_version is not None:
        if from_version.dataset_id != dataset.pk:
            raise ValidationError({"from_version_id": ["That version belongs to another dataset."]})
        if not from_version.is_released:
            raise ValidationError(
                {"from_version_id": ["A draft can only start from a released version."]}
            )
    number = (dataset.versions.aggregate(top=Max("number"))["top"] or 0) + 1
    draft = DatasetVersion.objects.create(
        dataset=dataset,
        number=number,
        created_by=user,
        based_on=from_version,
        columns=list(from_version.columns) if from_version else [],
        row_count=from_version.row_count if from_version else 0,
    )
    if from_version is not None:
        bulk.copy_items(source_id=from_version.pk, target_id=draft.pk)
    _touch(dataset)
    return draft


def _rows_in_runs(items) -> int:
    """How many of ``items`` evaluation runs have scored (a monitor scores draft rows)."""
    related = getattr(DatasetItem, "run_tasks", None)
    if related is None:
        return 0
    model = related.rel.related_model
    return (
        model._base_manager.filter(**{f"{related.rel.field.name}__in": items})
        .values(related.rel.field.name)
        .distinct()
        .count()
    )


def _refuse_if_scored(items, what: str) -> None:
    scored = _rows_in_runs(items)
    if scored:
        raise ConflictError(
            f"{what}: {scored} of its rows were scored by evaluation runs (a monitor scores "
            "ingested traces as they arrive). Delete those runs first.",
            code="rows_in_use",
        )


@transaction.atomic
def version_delete(*, version: DatasetVersion) -> None:
    version = _locked_draft(version)
    if _runs_using(DatasetVersion.objects.filter(pk=version.pk)):
        raise ConflictError(
            f"Version {version.number} of {version.dataset.name} cannot be deleted: evaluation "
            "runs use it. Delete those runs first.",
            code="version_in_use",
        )
    _refuse_if_scored(
        DatasetItem.objects.filter(version=version), f"Version {version.number} cannot be deleted"
    )
    bulk.delete_items([version.pk])
    version.delete()
    _touch(version.dataset)


@transaction.atomic
def version_release(*, version: DatasetVersion, user=None) -> DatasetVersion:
    """Freeze a draft: dense positions, exact columns with types, row count and checksum."""
    version = _locked_draft(version)
    count = DatasetItem.objects.filter(version=version).count()
    if count == 0:
        raise ValidationError({"version": ["Add at least one row before releasing."]})
    top = DatasetItem.objects.filter(version=version).aggregate(top=Max("position"))["top"]
    if top != count - 1:
        bulk.renumber_positions(version.pk)
    columns = ColumnSet()
    digest = hashlib.sha256()
    trace = True
    rows = (
        DatasetItem.objects.filter(version=version)
        .order_by("position")
        .values_list("data", flat=True)
        .iterator(chunk_size=conf.EXPORT_CHUNK_SIZE)
    )
    for data in rows:
        columns.add_row(data)
        trace = trace and is_trace_shaped(data)
        canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        digest.update(canonical.encode())
        digest.update(b"\n")
    version.mark_released(
        user=user,
        columns=columns.as_list(order=version.column_names()),
        row_count=count,
        checksum=digest.hexdigest(),
        trace=trace,
    )
    version.save()
    _touch(version.dataset)
    return version


# Items ------------------------------------------------------------------------------------


def _append(version: DatasetVersion, encoded: list[tuple[dict, str]]) -> list:
    if version.row_count + len(encoded) > conf.max_rows():
        raise ValidationError({"items": [f"A version holds at most {conf.max_rows()} rows."]})
    top = DatasetItem.objects.filter(version=version).aggregate(top=Max("position"))["top"]
    start = -1 if top is None else top
    writer = bulk.ItemWriter(version.pk, batch_size=conf.IMPORT_BATCH_SIZE)
    columns = ColumnSet(version.columns)
    ids = []
    for offset, (data, text) in enumerate(encoded, start=1):
        columns.add_row(data)
        ids.append(writer.add(start + offset, text))
    writer.flush()
    version.columns = columns.as_list()
    version.row_count += len(encoded)
    version.save(update_fields=["columns", "row_count"])
    return ids


@transaction.atomic
def items_add(*, version: DatasetVersion, rows: list) -> int:
    """Append rows (JSON objects) to a draft. All or nothing."""
    version = _locked_draft(version)
    if not isinstance(rows, list) or not rows:
        raise ValidationError({"items": ["Send a non-empty list of rows."]})
    encoded = [(row, _encode_row(row, where="items")) for row in rows]
    _append(version, encoded)
    _touch(version.dataset)
    return len(encoded)


@transaction.atomic
def items_append(*, version: DatasetVersion, rows: list) -> list:
    """``items_add`` that returns the new rows' ids, in the order of ``rows``."""
    version = _locked_draft(version)
    if not isinstance(rows, list) or not rows:
        raise ValidationError({"items": ["Send a non-empty list of rows."]})
    ids = _append(version, [(row, _encode_row(row, where="items")) for row in rows])
    _touch(version.dataset)
    return ids


@transaction.atomic
def items_replace(*, version: DatasetVersion, data_by_id: dict) -> int:
    """Replace the data of several rows of one draft at once (item id -> new row)."""
    version = _locked_draft(version)
    if not data_by_id:
        return 0
    for data in data_by_id.values():
        _encode_row(data, where="data")
    items = list(DatasetItem.objects.filter(version=version, pk__in=list(data_by_id)))
    if len(items) != len(data_by_id):
        raise ValidationError({"item_ids": ["Some of those rows are not in this version."]})
    columns = ColumnSet(version.columns)
    for item in items:
        item.data = data_by_id[item.pk]
        columns.add_row(item.data)
    DatasetItem.objects.bulk_update(items, ["data"], batch_size=conf.IMPORT_BATCH_SIZE // 10)
    version.columns = columns.as_list()
    version.save(update_fields=["columns"])
    _touch(version.dataset)
    return len(items)


@transaction.atomic
def item_update(*, item: DatasetItem, data) -> DatasetItem:
    version = _locked_draft(item.version)
    _encode_row(data, where="data")
    item.data = data
    item.save(update_fields=["data"])
    columns = ColumnSet(version.columns)
    columns.add_row(data)
    version.columns = columns.as_list()
    version.save(update_fields=["columns"])
    _touch(version.dataset)
    return item


@transaction.atomic
def item_delete(*, item: DatasetItem) -> None:
    items_delete(version=item.version, item_ids=[item.pk])


@transaction.atomic
def items_delete(*, version: DatasetVersion, item_ids: list) -> int:
    """Delete rows of a draft by id; ids of other versions are refused."""
    version = _locked_draft(version)
    ids = list(dict.fromkeys(item_ids or []))
    if not ids:
        raise ValidationError({"item_ids": ["Choose at least one row."]})
    try:
        found = DatasetItem.objects.filter(version=version, pk__in=ids)
        found_count = found.count()
    except (ValidationError, ValueError) as exc:
        raise ValidationError({"item_ids": ["Those are not row ids."]}) from exc
    if found_count != len(ids):
        raise ValidationError({"item_ids": ["Some of those rows are not in this version."]})
    _refuse_if_scored(found, "These rows cannot be deleted")
    deleted, _ = found.delete()
    version.row_count = max(0, version.row_count - found_count)
    version.save(update_fields=["row_count"])
    _touch(version.dataset)
    return found_count


# Import -----------------------------------------------------------------------------------


@transaction.atomic
def version_import(
    *, version: DatasetVersion, stream: IO[bytes], filename: str, fmt: str = "", size=None
) -> ImportReport:
    """Append a CSV/JSON/JSONL file's rows to a draft, all or nothing.

    Rows are parsed and written in batches as the file streams in; at the first bad row
    writing stops but checking goes on so the report lists every bad row (the first 100),
    then the transaction is rolled back: nothing is written.
    """
    version = _locked_draft(version)
    max_bytes = conf.max_upload_bytes()
    try:
        fmt = importing.format_for(filename, fmt)
        if size is not None and size > max_bytes:
            raise importing.FileProblem(importing._too_big(max_bytes))
        problems, total, imported = _stream_rows(version, stream, fmt, max_bytes)
    except importing.FileProblem as exc:
        transaction.set_rollback(True)
        raise ImportFailed([], total=1, file_error=str(exc)) from exc
    if total:
        transaction.set_rollback(True)
        raise ImportFailed(problems, total=total)
    _touch(version.dataset)
    return ImportReport(
        rows_imported=imported, row_count=version.row_count, columns=version.columns
    )


def _stream_rows(version: DatasetVersion, stream, fmt: str, max_bytes: int):
    max_row = conf.max_row_bytes()
    room = conf.max_rows() - version.row_count
    top = DatasetItem.objects.filter(version=version).aggregate(top=Max("position"))["top"]
    position = -1 if top is None else top
    writer = bulk.ItemWriter(version.pk, batch_size=conf.IMPORT_BATCH_SIZE)
    columns = ColumnSet(version.columns)
    problems: list[importing.RowProblem] = []
    total = imported = 0

    def problem(line: int, message: str) -> None:
        nonlocal total
        total += 1
        if len(problems) < conf.MAX_REPORTED_PROBLEMS:
            problems.append(importing.RowProblem(line, message))

    parsed = importing.parse(stream, fmt, max_bytes=max_bytes, max_row_bytes=max_row)
    for entry in parsed:
        if isinstance(entry, importing.RowProblem):
            problem(entry.line, entry.message)
            continue
        line, data = entry
        if not data:
            problem(line, "the row has no fields.")
            continue
        text = json.dumps(data, ensure_ascii=False)
        if len(text) > max_row // 4 and len(text.encode()) > max_row:
            problem(line, f"the row is larger than the {max_row // 1024} KB row limit.")
            continue
        imported += 1
        if imported > room:
            raise importing.FileProblem(
                f"The version would hold more than the limit of {conf.max_rows()} rows."
            )
        if total:
            continue  # keep checking, stop writing
        position += 1
        columns.add_row(data)
        writer.add(position, text)
    if not total:
        writer.flush()
        version.columns = columns.as_list()
        version.row_count += imported
        version.save(update_fields=["columns", "row_count"])
    return problems, total, imported


# Keep the status enum importable from here for callers that only need services.
__all__ = [
    "ImportFailed",
    "ImportReport",
    "VersionStatus",
    "dataset_create",
    "dataset_delete",
    "item_delete",
    "item_update",
    "items_add",
    "items_append",
    "items_replace",
    "items_delete",
    "version_create_draft",
    "version_delete",
    "version_import",
    "version_release",
]
