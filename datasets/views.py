"""DATASETS tab: thin views over the same services and selectors the API uses."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from datasets import exporting, selectors, services
from datasets.filtersets import DatasetFilterSet
from datasets.forms import DatasetForm, DraftForm, ImportForm, RowForm
from datasets.models import Dataset, DatasetItem, DatasetVersion
from evalsite.errors import ConflictError
from evalsite.filters import filter_errors
from projects.access import can, project_for_user
from projects.models import Role

PAGE_SIZE = 50
VERSION_TEMPLATE = "datasets/version.html"


def _dataset(request, project_id, dataset_id, *, role: str = Role.VIEWER) -> Dataset:
    project = project_for_user(request.user, project_id, role=role)
    return get_object_or_404(
        Dataset.objects.select_related("project"), project=project, pk=dataset_id
    )


def _version(request, project_id, dataset_id, version_id, *, role=Role.VIEWER) -> DatasetVersion:
    dataset = _dataset(request, project_id, dataset_id, role=role)
    version = get_object_or_404(
        DatasetVersion.objects.select_related("created_by", "released_by"),
        dataset=dataset,
        pk=version_id,
    )
    version.dataset = dataset
    return version


def _item(request, project_id, dataset_id, version_id, item_id) -> DatasetItem:
    version = _version(request, project_id, dataset_id, version_id, role=Role.EDITOR)
    item = get_object_or_404(DatasetItem, version=version, pk=item_id)
    item.version = version
    return item


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ConflictError):
        return exc.message
    return " ".join(exc.messages)


def _version_url(version: DatasetVersion) -> str:
    return reverse(
        "datasets:version",
        kwargs={
            "project_id": version.dataset.project_id,
            "dataset_id": version.dataset_id,
            "version_id": version.pk,
        },
    )


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _with_cells(item: DatasetItem, columns: list[str]) -> DatasetItem:
    item.cells = [_cell(item.data.get(name)) for name in columns]
    return item


def _int_param(request, name: str) -> int | None:
    try:
        return int(request.GET[name])
    except (KeyError, ValueError):
        return None


@login_required
@require_http_methods(["GET", "POST"])
def dataset_list(request, project_id):
    project = project_for_user(request.user, project_id)
    form = DatasetForm(request.POST or None)
    if request.method == "POST":
        project = project_for_user(request.user, project_id, role=Role.EDITOR)
        if form.is_valid():
            try:
                dataset = services.dataset_create(
                    project=project, user=request.user, **form.cleaned_data
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, f"Dataset {dataset.name} created.")
                return redirect("datasets:detail", project_id=project.pk, dataset_id=dataset.pk)
    filterset = DatasetFilterSet(request.GET or None, selectors.datasets_for_project(project))
    context = {
        "project": project,
        "datasets": filterset.qs
        if filterset.is_valid()
        else selectors.datasets_for_project(project),
        "filter_errors": filter_errors(filterset),
        "form": form,
        "can_edit": can(request.user, project, Role.EDITOR),
    }
    return render(request, "datasets/list.html", context)


@login_required
def dataset_detail(request, project_id, dataset_id):
    dataset = _dataset(request, project_id, dataset_id)
    versions = list(selectors.versions_for_dataset(dataset))
    context = {
        "project": dataset.project,
        "dataset": dataset,
        "versions": versions,
        "draft_form": DraftForm(released_versions=[v for v in versions if v.is_released]),
        "can_edit": can(request.user, dataset.project, Role.EDITOR),
    }
    return render(request, "datasets/detail.html", context)


@login_required
@require_POST
def dataset_delete(request, project_id, dataset_id):
    dataset = _dataset(request, project_id, dataset_id, role=Role.EDITOR)
    try:
        services.dataset_delete(dataset=dataset)
    except (ValidationError, ConflictError) as exc:
        messages.error(request, _error_text(exc))
        return redirect("datasets:detail", project_id=project_id, dataset_id=dataset.pk)
    messages.success(request, f"Dataset {dataset.name} deleted.")
    return redirect("datasets:list", project_id=project_id)


@login_required
@require_POST
def draft_create(request, project_id, dataset_id):
    dataset = _dataset(request, project_id, dataset_id, role=Role.EDITOR)
    released = dataset.versions.filter(status="released")
    form = DraftForm(request.POST, released_versions=released)
    if not form.is_valid():
        messages.error(request, "Choose a released version or an empty draft.")
        return redirect("datasets:detail", project_id=project_id, dataset_id=dataset.pk)
    source = (
        released.get(pk=form.cleaned_data["from_version"])
        if form.cleaned_data["from_version"]
        else None
    )
    try:
        draft = services.version_create_draft(
            dataset=dataset, from_version=source, user=request.user
        )
    except (ValidationError, ConflictError) as exc:
        messages.error(request, _error_text(exc))
        return redirect("datasets:detail", project_id=project_id, dataset_id=dataset.pk)
    draft.dataset = dataset
    messages.success(request, f"Draft version {draft.number} created.")
    return redirect(_version_url(draft))


@login_required
def version_detail(request, project_id, dataset_id, version_id, *, import_form=None):
    version = _version(request, project_id, dataset_id, version_id)
    columns = version.column_names()
    search = request.GET.get("q", "").strip()
    start = _int_param(request, "row")
    after = _int_param(request, "after")
    if start is not None:
        after = max(start, 1) - 2  # "row" is 1-based; keyset takes the position before it
    page = selectors.items_page(
        version, after=after, before=_int_param(request, "before"), limit=PAGE_SIZE, search=search
    )
    for item in page.items:
        _with_cells(item, columns)
    context = {
        "project": version.dataset.project,
        "dataset": version.dataset,
        "version": version,
        "columns": columns,
        "page": page,
        "search": search,
        "first_position": page.items[0].position if page.items else None,
        "can_edit": version.is_draft and can(request.user, version.dataset.project, Role.EDITOR),
        "import_form": import_form or ImportForm(),
        "row_form": RowForm(),
        "formats": list(exporting.EXPORT_FORMATS),
    }
    template = VERSION_TEMPLATE
    if request.htmx and request.htmx.target == "rows":
        template += "#rows"
    return render(request, template, context)


@login_required
@require_POST
def version_release(request, project_id, dataset_id, version_id):
    version = _version(request, project_id, dataset_id, version_id, role=Role.EDITOR)
    try:
        version = services.version_release(version=version, user=request.user)
    except (ValidationError, ConflictError) as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(
            request, f"Version {version.number} released with {version.row_count} rows."
        )
    return redirect(_version_url(version))


@login_required
@require_POST
def version_delete(request, project_id, dataset_id, version_id):
    version = _version(request, project_id, dataset_id, version_id, role=Role.EDITOR)
    try:
        services.version_delete(version=version)
    except (ValidationError, ConflictError) as exc:
        messages.error(request, _error_text(exc))
        return redirect(_version_url(version))
    messages.success(request, f"Draft version {version.number} deleted.")
    return redirect("datasets:detail", project_id=project_id, dataset_id=dataset_id)


@login_required
@require_POST
def version_import(request, project_id, dataset_id, version_id):
    version = _version(request, project_id, dataset_id, version_id, role=Role.EDITOR)
    form = ImportForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            report = services.version_import(
                version=version,
                stream=upload,
                filename=upload.name or "",
                fmt=form.cleaned_data["format"],
                size=upload.size,
            )
        except services.ImportFailed as exc:
            form.add_error("file", exc.message_dict["file"])
        except ConflictError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Imported {report.rows_imported} rows.")
            if request.htmx:
                return HttpResponseClientRedirect(_version_url(version))
            return redirect(_version_url(version))
    if request.htmx:
        context = {"version": version, "import_form": form, "can_edit": True}
        return render(request, f"{VERSION_TEMPLATE}#import-card", context)
    return version_detail(request, project_id, dataset_id, version_id, import_form=form)


@login_required
def version_export(request, project_id, dataset_id, version_id, fmt):
    version = _version(request, project_id, dataset_id, version_id)
    if fmt not in exporting.EXPORT_FORMATS:
        messages.error(request, "Choose csv, json or jsonl.")
        return redirect(_version_url(version))
    return exporting.export_response(version, fmt)


@login_required
@require_POST
def row_add(request, project_id, dataset_id, version_id):
    version = _version(request, project_id, dataset_id, version_id, role=Role.EDITOR)
    form = RowForm(request.POST)
    if form.is_valid():
        try:
            services.items_add(version=version, rows=[form.cleaned_data["data"]])
        except (ValidationError, ConflictError) as exc:
            messages.error(request, _error_text(exc))
        else:
            messages.success(request, "Row added.")
    else:
        messages.error(request, " ".join(form.errors["data"]))
    return redirect(_version_url(version) + "?row=" + str(max(version.row_count, 1)))


@login_required
@require_http_methods(["GET", "POST"])
def row_edit(request, project_id, dataset_id, version_id, item_id):
    item = _item(request, project_id, dataset_id, version_id, item_id)
    version = item.version
    columns = version.column_names()
    if request.method == "GET" and request.GET.get("cancel"):
        return _render_row(request, item, columns)
    form = RowForm(
        request.POST or None,
        initial={"data": json.dumps(item.data, ensure_ascii=False, indent=2)},
    )
    if request.method == "POST" and form.is_valid():
        try:
            item = services.item_update(item=item, data=form.cleaned_data["data"])
        except (ValidationError, ConflictError) as exc:
            form.add_error("data", _error_text(exc))
        else:
            if request.htmx:
                version.refresh_from_db(fields=["columns"])
                return _render_row(request, item, version.column_names())
            messages.success(request, "Row saved.")
            return redirect(_version_url(version) + f"?row={item.position + 1}")
    context = {
        "version": version,
        "dataset": version.dataset,
        "item": item,
        "form": form,
        "columns": columns,
        "can_edit": True,
    }
    if request.htmx:
        return render(request, f"{VERSION_TEMPLATE}#row-edit", context)
    return render(request, "datasets/row_edit.html", context)


def _render_row(request, item, columns) -> HttpResponse:
    context = {"version": item.version, "item": _with_cells(item, columns), "can_edit": True}
    return render(request, f"{VERSION_TEMPLATE}#row", context)


@login_required
@require_POST
def row_delete(request, project_id, dataset_id, version_id, item_id):
    item = _item(request, project_id, dataset_id, version_id, item_id)
    try:
        services.item_delete(item=item)
    except (ValidationError, ConflictError) as exc:
        messages.error(request, _error_text(exc))
        if request.htmx:
            return HttpResponseClientRedirect(_version_url(item.version))
    if request.htmx:
        return HttpResponse("")
    return redirect(_version_url(item.version))


@login_required
@require_POST
def rows_delete(request, project_id, dataset_id, version_id):
    version = _version(request, project_id, dataset_id, version_id, role=Role.EDITOR)
    try:
        deleted = services.items_delete(version=version, item_ids=request.POST.getlist("item_ids"))
    except (ValidationError, ConflictError) as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, f"Deleted {deleted} rows.")
    return redirect(_version_url(version))
