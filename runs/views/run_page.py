"""One run: its status and progress (live while it works), pinned versions, per-metric
summaries, the results table with its row drawer, downloads and the actions."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling

from evalsite.errors import ConflictError
from evalsite.filters import filter_errors
from projects.models import Role
from runs import services
from runs.columns import run_columns
from runs.exports import FORMATS, run_results_download
from runs.filtersets import ResultFilterSet
from runs.models import RunTask
from runs.progress import metric_cards, run_progress
from runs.results_table import results_table_page, run_result_row
from runs.views.common import can_edit, project_or_404, run_or_404

RESULTS_PAGE_SIZE = 50


def _results_context(request: HttpRequest, run, columns) -> dict:
    filterset = ResultFilterSet(request.GET or None, queryset=RunTask.objects.none())
    filters = filterset.table_filters()
    # Bad values are form errors (named by field); the table then shows unfiltered.
    errors: list[str] = [
        f"{field}: {message}"
        for field, msgs in filter_errors(filterset).items()
        for message in msgs
    ]
    try:
        page = results_table_page(
            run,
            after=request.GET.get("after") or None,
            limit=RESULTS_PAGE_SIZE,
            sort=filterset.sort_value(),
            filters=filters,
            columns=columns,
        )
    except ValidationError as exc:
        errors = [m for msgs in exc.message_dict.values() for m in msgs]
        page = results_table_page(run, limit=RESULTS_PAGE_SIZE, columns=columns)
    query = request.GET.copy()
    query.pop("after", None)
    sort_query = query.copy()
    sort_query.pop("sort", None)
    return {
        "page": page,
        "filters": filters,
        "result_errors": errors,
        "base_query": query.urlencode(),
        "sort_query": sort_query.urlencode(),
        "current_sort": page.sort,
        "numeric_bindings": [b for b in columns.bindings if b.is_numeric],
    }


def _run_context(request: HttpRequest, project, run) -> dict:
    return {
        "project": project,
        "run": run,
        "progress": run_progress(run),
        "can_edit": can_edit(request, project),
        "formats": list(FORMATS),
    }


@require_GET
def run_detail(request: HttpRequest, project_id, run_id) -> HttpResponse:
    project = project_or_404(request, project_id)
    run = run_or_404(project, run_id)
    columns = run_columns(run)
    context = _run_context(request, project, run)
    context.update(columns=columns, cards=metric_cards(run, columns=columns))
    context.update(_results_context(request, run, columns))
    return render(request, "runs/detail.html", context)


@require_GET
def run_status(request: HttpRequest, project_id, run_id) -> HttpResponse:
    """The polled header (status, progress, actions). When the run has finished it answers
    one last time with the final state, stops polling and tells the page to refresh the
    summaries and the results table."""
    project = project_or_404(request, project_id)
    run = run_or_404(project, run_id)
    response = render(request, "runs/detail.html#run-status", _run_context(request, project, run))
    if run.is_active:
        return response
    stop = HttpResponseStopPolling(response.content)
    stop["HX-Trigger"] = "run-finished"
    return stop


@require_GET
def run_results(request: HttpRequest, project_id, run_id) -> HttpResponse:
    project = project_or_404(request, project_id)
    run = run_or_404(project, run_id)
    columns = run_columns(run)
    context = _run_context(request, project, run)
    context["columns"] = columns
    context.update(_results_context(request, run, columns))
    if request.htmx and request.htmx.target == "run-summaries":
        context["cards"] = metric_cards(run, columns=columns)
        return render(request, "runs/detail.html#run-summaries", context)
    if request.htmx:
        return render(request, "runs/detail.html#results", context)
    context["cards"] = metric_cards(run, columns=columns)
    return render(request, "runs/detail.html", context)


@require_GET
def run_row(request: HttpRequest, project_id, run_id, position: int) -> HttpResponse:
    project = project_or_404(request, project_id)
    run = run_or_404(project, run_id)
    columns = run_columns(run)
    row = run_result_row(run, position, columns=columns)
    if row is None:
        raise Http404("No such row in this run.")
    context = {"project": project, "run": run, "row": row, "columns": columns}
    if request.htmx:
        return render(request, "runs/row.html#row-drawer", context)
    return render(request, "runs/row.html", context)


@require_GET
def run_download(request: HttpRequest, project_id, run_id) -> HttpResponse:
    project = project_or_404(request, project_id)
    run = run_or_404(project, run_id)
    fmt = request.GET.get("format", "json")
    if fmt not in FORMATS:
        messages.error(request, f"Unknown download format '{fmt[:20]}'. Use json, jsonl or csv.")
        return redirect("runs:detail", project_id=project.pk, run_id=run.pk)
    try:
        return run_results_download(run, fmt=fmt)
    except ConflictError as exc:
        messages.error(request, exc.message)
        response = redirect("runs:detail", project_id=project.pk, run_id=run.pk)
        response.status_code = 303
        return response


def _after_action(request: HttpRequest, project, run) -> HttpResponse:
    target = reverse("runs:detail", args=[project.pk, run.pk])
    if request.htmx:
        return HttpResponseClientRedirect(target)
    return redirect(target)


@require_POST
def run_rerun(request: HttpRequest, project_id, run_id) -> HttpResponse:
    project = project_or_404(request, project_id, role=Role.EDITOR)
    run = run_or_404(project, run_id)
    try:
        services.run_rerun(run=run)
    except ConflictError as exc:
        messages.warning(request, exc.message)
    else:
        messages.success(request, "Rerunning the failed tasks with the pinned versions.")
    return _after_action(request, project, run)


@require_POST
def run_cancel(request: HttpRequest, project_id, run_id) -> HttpResponse:
    project = project_or_404(request, project_id, role=Role.EDITOR)
    run = run_or_404(project, run_id)
    try:
        services.run_cancel(run=run)
    except ConflictError as exc:
        messages.warning(request, exc.message)
    else:
        messages.success(request, "Cancel requested: in-flight rows settle, the rest stop.")
    return _after_action(request, project, run)


@require_http_methods(["GET", "POST"])
def run_delete(request: HttpRequest, project_id, run_id) -> HttpResponse:
    project = project_or_404(request, project_id, role=Role.EDITOR)
    run = run_or_404(project, run_id)
    if request.method == "GET":
        context = {"project": project, "run": run}
        if request.htmx:
            return render(request, "runs/delete.html#delete-dialog", context)
        return render(request, "runs/delete.html", context)
    try:
        services.run_delete(run=run)
    except ConflictError as exc:
        messages.warning(request, exc.message)
        return _after_action(request, project, run)
    messages.success(request, f"Run {run.name} deleted.")
    target = reverse("runs:list", args=[project.pk])
    if request.htmx:
        return HttpResponseClientRedirect(target)
    return redirect(target)
