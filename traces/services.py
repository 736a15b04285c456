"""Ingestion: an OTLP ``ExportTraceServiceRequest`` into trace-shaped dataset items.

Spans are grouped by where they go (project and dataset, from the resource) and by trace.
Each trace is one item of the dataset's open draft: a new trace is appended, a trace already
there gets the new spans merged in (a span id already stored is skipped). Writes go through
``datasets.services``; the draft's row is locked for the whole of one group's write, so two
requests for one trace at once are serialised and cannot make two items (the unique
(version, trace_id) of ``TraceItem`` backs this up). A draft released meanwhile is noticed
under that lock and the spans go to the next draft.

Access is checked for every group before anything is written: the caller needs the editor
role in each project the request names, or nothing is stored.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field

import orjson
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from datasets import conf as dataset_conf
from datasets import services as dataset_services
from datasets.models import Dataset, DatasetItem, DatasetVersion, VersionStatus
from evalsite.errors import ConflictError
from projects.access import require_role
from projects.models import Membership, Project, Role
from traces import mapping
from traces.models import TraceItem

log = logging.getLogger(__name__)

DATASET_ATTRIBUTE = "evalsite.dataset"
PROJECT_ATTRIBUTE = "evalsite.project"
SERVICE_ATTRIBUTE = "service.name"
DEFAULT_SERVICE = "unknown_service"
MAX_MESSAGES = 20


class IngestRefused(Exception):
    """The request names a project the caller may not write to (``status`` 400/403/404)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class IngestReport:
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    traces_created: int = 0
    traces_updated: int = 0
    messages: list[str] = field(default_factory=list)

    def reject(self, count: int, message: str) -> None:
        self.rejected += count
        if len(self.messages) < MAX_MESSAGES:
            self.messages.append(message)

    def absorb(self, other: IngestReport) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.traces_created += other.traces_created
        self.traces_updated += other.traces_updated
        self.rejected += other.rejected
        self.messages = (self.messages + other.messages)[:MAX_MESSAGES]

    @property
    def error_message(self) -> str:
        return " ".join(self.messages)


@dataclass
class _Group:
    project_ref: str
    dataset_name: str
    service_name: str
    traces: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    span_count: int = 0


# Entry point -----------------------------------------------------------------------------


def traces_ingest(*, user, request, project_hint: str = "") -> IngestReport:
    """Store every span of ``request`` (an ``ExportTraceServiceRequest``)."""
    report = IngestReport()
    groups = _group(request, project_hint=project_hint, report=report)
    projects = _resolve_projects(user, {group.project_ref for group in groups.values()})
    for group in groups.values():
        project = projects[group.project_ref]
        try:
            _store_group(user=user, project=project, group=group, report=report)
        except ValidationError as exc:
            problem = _validation_text(exc)
            report.reject(group.span_count, f"Dataset {group.dataset_name}: {problem}")
        except ConflictError as exc:
            report.reject(group.span_count, f"Dataset {group.dataset_name}: {exc.message}")
    return report


def _validation_text(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return " ".join(m for messages in exc.message_dict.values() for m in messages)
    return " ".join(exc.messages)


# Grouping --------------------------------------------------------------------------------


def _group(request, *, project_hint: str, report: IngestReport) -> dict[tuple, _Group]:
    groups: dict[tuple, _Group] = {}
    for resource_spans in request.resource_spans:
        resource = mapping.key_values(resource_spans.resource.attributes)
        service = _text_attr(resource, SERVICE_ATTRIBUTE) or DEFAULT_SERVICE
        dataset_name = (_text_attr(resource, DATASET_ATTRIBUTE) or service)[:200]
        project_ref = _text_attr(resource, PROJECT_ATTRIBUTE) or project_hint.strip()
        key = (project_ref, dataset_name)
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(project_ref, dataset_name, service)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                problem = _span_problem(span)
                if problem:
                    report.reject(1, problem)
                    continue
                group.traces[span.trace_id.hex()].append(mapping.span_dict(span))
                group.span_count += 1
    return {key: group for key, group in groups.items() if group.span_count}


def _text_attr(attributes: dict, name: str) -> str:
    value = attributes.get(name)
    return value.strip() if isinstance(value, str) else ""


def _span_problem(span) -> str:
    if len(span.trace_id) != 16 or not any(span.trace_id):
        return f"Span {span.name!r} has no valid trace id (16 bytes, not all zero)."
    if len(span.span_id) != 8 or not any(span.span_id):
        return f"Span {span.name!r} has no valid span id (8 bytes, not all zero)."
    if span.parent_span_id and len(span.parent_span_id) != 8:
        return f"Span {span.name!r} has an invalid parent span id."
    return ""


# Access ----------------------------------------------------------------------------------


def _resolve_projects(user, refs: set[str]) -> dict[str, Project]:
    found = {}
    for ref in refs:
        project = _find_project(user, ref)
        try:
            require_role(user, project, Role.EDITOR)
        except Http404 as exc:
            raise IngestRefused(404, f"No such project: {ref}.") from exc
        except PermissionDenied as exc:
            raise IngestRefused(
                403, f"Sending traces needs the editor role in project {project.name}."
            ) from exc
        found[ref] = project
    return found


def _find_project(user, ref: str) -> Project:
    if not ref:
        memberships = list(Membership.objects.filter(user=user).select_related("project")[:2])
        if len(memberships) == 1:
            return memberships[0].project
        if not memberships:
            raise IngestRefused(403, "The key's user is not a member of any project.")
        raise IngestRefused(
            400,
            f"The key's user belongs to several projects: name one with the "
            f"{PROJECT_ATTRIBUTE} resource attribute (slug or id) or an X-Evalsite-Project "
            "header.",
        )
    project = Project.objects.filter(slug=ref).first()
    if project is None:
        try:
            project = Project.objects.filter(pk=ref).first()
        except (ValueError, ValidationError):
            project = None
    if project is None:
        raise IngestRefused(404, f"No such project: {ref}.")
    return project


# Writing ---------------------------------------------------------------------------------


def _dataset_for(*, project, name: str, service: str, user) -> Dataset:
    dataset = Dataset.objects.filter(project=project, name=name).first()
    if dataset is not None:
        return dataset
    try:
        with transaction.atomic():
            return dataset_services.dataset_create(
                project=project,
                name=name,
                description=f"Traces sent over OpenTelemetry (OTLP) by service {service}.",
                user=user,
            )
    except (IntegrityError, ValidationError):
        # Another request created it a moment ago.
        dataset = Dataset.objects.filter(project=project, name=name).first()
        if dataset is None:
            raise
        return dataset


def _open_draft_id(dataset: Dataset, *, user):
    """The id of the dataset's open draft (the newest), or of a new one started from the
    latest release (its traces come along, so late spans of a released trace still merge).

    Runs in a transaction of its own that holds the dataset's row lock only while it looks
    and creates, so two requests never open two drafts, and the writes that follow take
    their locks in the order the dataset services do (version, then dataset).
    """
    drafts = DatasetVersion.objects.filter(dataset=dataset, status=VersionStatus.DRAFT)
    found = drafts.order_by("-number").values_list("pk", flat=True).first()
    if found is not None:
        return found
    with transaction.atomic():
        dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
        found = drafts.order_by("-number").values_list("pk", flat=True).first()
        if found is not None:
            return found
        released = (
            DatasetVersion.objects.filter(dataset=dataset, status=VersionStatus.RELEASED)
            .order_by("-number")
            .first()
        )
        draft = dataset_services.version_create_draft(
            dataset=dataset, from_version=released, user=user
        )
        if released is not None:
            _copy_links(source=released, target=draft)
        return draft.pk


def _copy_links(*, source: DatasetVersion, target: DatasetVersion) -> None:
    """Point the copied items of a new draft at their traces (copies keep positions)."""
    links = TraceItem.objects.filter(version=source).values_list(
        "trace_id", "item__position", "span_count"
    )
    by_position = dict(
        DatasetItem.objects.filter(version=target).values_list("position", "id").iterator()
    )
    now = timezone.now()
    TraceItem.objects.bulk_create(
        [
            TraceItem(
                version=target,
                trace_id=trace_id,
                item_id=by_position[position],
                span_count=span_count,
                created_at=now,
                updated_at=now,
            )
            for trace_id, position, span_count in links.iterator()
            if position in by_position
        ],
        batch_size=1000,
        ignore_conflicts=True,
    )


def _row_size(row: dict) -> int:
    return len(json.dumps(row, ensure_ascii=False).encode())


def _fits(row: dict, limit: int) -> bool:
    try:
        compact = len(orjson.dumps(row))
    except TypeError:  # e.g. integers beyond 64 bits, which orjson refuses
        return _row_size(row) <= limit
    if compact > limit:
        return False
    # json.dumps (what datasets measure) adds a space after each separator.
    return compact * 13 // 10 <= limit or _row_size(row) <= limit


def _store_group(*, user, project, group: _Group, report: IngestReport) -> None:
    dataset = _dataset_for(
        project=project, name=group.dataset_name, service=group.service_name, user=user
    )
    for _attempt in range(3):
        draft_id = _open_draft_id(dataset, user=user)
        with transaction.atomic():
            # The draft's row lock serialises every write to it: two requests carrying
            # spans of one trace cannot both find it missing and append it twice.
            draft = DatasetVersion.objects.select_for_update().get(pk=draft_id)
            if draft.is_draft:
                written = IngestReport()  # counted only once the write has committed
                _write_group(draft=draft, group=group, report=written)
                report.absorb(written)
                return
        # released between finding it and locking it: open the next draft
    raise ConflictError("The dataset's drafts keep being released; send again.")


def _write_group(*, draft: DatasetVersion, group: _Group, report: IngestReport) -> None:
    limit = dataset_conf.max_row_bytes()
    trace_ids = list(group.traces)
    links = {
        link.trace_id: link
        for link in TraceItem.objects.filter(version=draft, trace_id__in=trace_ids)
    }
    stored = dict(
        DatasetItem.objects.filter(pk__in=[link.item_id for link in links.values()]).values_list(
            "id", "data"
        )
    )
    new_rows: list[tuple[str, dict, int]] = []
    replaced: dict = {}
    changed_links: list[TraceItem] = []
    accepted = 0
    for trace_id, incoming in group.traces.items():
        link = links.get(trace_id)
        existing = []
        if link is not None:
            data = stored.get(link.item_id)
            trace = data.get("trace") if isinstance(data, dict) else None
            spans = trace.get("spans") if isinstance(trace, dict) else None
            existing = [s for s in spans or [] if isinstance(s, dict)]
        merged, duplicates = mapping.merge_spans(existing, incoming)
        report.duplicates += duplicates
        if len(merged) == len(existing):
            accepted += len(incoming)  # all already stored: accepted, nothing to do
            continue
        row = mapping.trace_row(trace_id, merged, service_name=group.service_name)
        if not _fits(row, limit):
            report.reject(
                len(incoming) - duplicates,
                f"Trace {trace_id} would be larger than the {limit // 1024} KB row limit; "
                "its new spans were not stored.",
            )
            accepted += duplicates
            continue
        accepted += len(incoming)
        if link is None:
            new_rows.append((trace_id, row, len(merged)))
        else:
            replaced[link.item_id] = row
            link.span_count = len(merged)
            link.updated_at = timezone.now()
            changed_links.append(link)
    if replaced:
        dataset_services.items_replace(version=draft, data_by_id=replaced)
        TraceItem.objects.bulk_update(changed_links, ["span_count", "updated_at"], batch_size=500)
        report.traces_updated += len(replaced)
    if new_rows:
        ids = dataset_services.items_append(version=draft, rows=[row for _, row, _ in new_rows])
        now = timezone.now()
        TraceItem.objects.bulk_create(
            [
                TraceItem(
                    version=draft,
                    trace_id=trace_id,
                    item_id=item_id,
                    span_count=count,
                    created_at=now,
                    updated_at=now,
                )
                for (trace_id, _, count), item_id in zip(new_rows, ids, strict=True)
            ],
            batch_size=1000,
        )
        report.traces_created += len(new_rows)
    report.accepted += accepted
