"""One run: its status and progress (live while it works), pinned versions, per-metric
summaries, the results table with its row drawer, downloads and the actions."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling

from evalsite.errors import ConflictError
from evalsite.filters import filter_errors
from projects.models import Role
from runs import services
from runs.columns import EXPECTED_COLUMNS, QUESTION_COLUMNS, run_columns
from runs.exports import FORMATS, run_results_download
from runs.filtersets import ResultFilterSet
from runs.models import RunTask
from runs.options import CAP_FIELDS
from runs.progress import metric_cards, run_progress
from runs.results_cache import cached_page
from runs.results_table import PAGE_LIMIT_MAX, results_table_page, run_result_row
from runs.selectors import parse_uuid
from runs.trace_view import span_tree, spans_of
from runs.usage import run_budget
from runs.views.common import can_edit, project_or_404, run_or_404
from traces.span_scoring import span_results_by_task

RESULTS_PAGE_SIZE = 50
PAGE_SIZES = (10, 25, 50, 100, 200)
OUTPUT_PREVIEW = 120


def _int_param(request: HttpRequest, name: str, default: int) -> int:
    raw = request.GET.get(name, "")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 10_000_000 else default


def _as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _table_layout(columns) -> dict:
    """Which columns the table shows, in order: each agent's outputs, the dataset's
    expected-answer columns beside them, the scores, then the other dataset columns."""
    outputs = [
        {
            "key": f"output:{entry.position}:{name}",
            "label": name,
            "entry": entry.position,
            "name": name,
            "agent": entry.label,
        }
        for entry in columns.entries
        if entry.workflow_name
        for name in entry.output_names
    ]
    expected = [c for c in EXPECTED_COLUMNS if c in columns.dataset_columns]
    inputs = [c for c in QUESTION_COLUMNS if c in columns.dataset_columns and c not in expected]
    rest = [c for c in columns.dataset_columns if c not in expected and c not in inputs]
    return {
        "outputs": outputs,
        "input_columns": inputs,
        "expected_columns": expected,
        "other_columns": rest,
    }


def _output_cells(row, outputs: list[dict]) -> list[dict]:
    # With repetitions a row holds a task per trial: show the first trial that answered
    # (a trial not run or failed shows only when no trial answered).
    by_entry: dict = {}
    for task in sorted(row.tasks, key=lambda t: (not t.get("outputs"), t.get("trial") or 0)):
        by_entry.setdefault(task["entry"], task)
    cells = []
    for column in outputs:
        task = by_entry.get(column["entry"]) or {}
        full = _as_text((task.get("outputs") or {}).get(column["name"]))
        cells.append(
            {
                "key": column["key"],
                "full": full,
                "preview": full[:OUTPUT_PREVIEW],
                "truncated": len(full) > OUTPUT_PREVIEW,
                "error": task.get("error") or "",
            }
        )
    return cells


def _results_context(request: HttpRequest, run, columns) -> dict:
    filterset = ResultFilterSet(request.GET or None, queryset=RunTask.objects.none())
    filters = filterset.table_filters()
    sort = filterset.sort_value()
    # Bad values are form errors (named by field); the table then shows unfiltered.
    errors: list[str] = [
        f"{field}: {message}"
        for field, msgs in filter_errors(filterset).items()
        for message in msgs
    ]
    per_page = _int_param(request, "per_page", RESULTS_PAGE_SIZE)
    per_page = min(per_page, PAGE_LIMIT_MAX)
    page_number = _int_param(request, "page", 1)
    after = request.GET.get("after") or None
    if after and "page" not in request.GET:
        page_number = None  # an API-style cursor link: the page's number is unknown
    elif page_number == 1:
        after = None
    try:
        page = results_table_page(
            run,
            after=after,
            offset=None if after else (page_number - 1) * per_page,
            limit=per_page,
            sort=sort,
            filters=filters,
            columns=columns,
            count=True,
        )
        if not page.rows and (page_number or 1) > (page.page_count or 1):
            # Past the end (rows were filtered away, a stale link): show the last page.
            page_number = page.page_count or 1
            page = results_table_page(
                run,
                offset=(page_number - 1) * per_page,
                limit=per_page,
                sort=sort,
                filters=filters,
                columns=columns,
                count=True,
            )
    except ValidationError as exc:
        errors += [m for msgs in exc.message_dict.values() for m in msgs]
        page_number = 1
        page = results_table_page(run, limit=per_page, columns=columns, count=True)
    query = request.GET.copy()
    for key in ("after", "page"):
        query.pop(key, None)
    sort_query = query.copy()
    sort_query.pop("sort", None)
    layout = _table_layout(columns)
    for row in page.rows:
        row.output_cells = _output_cells(row, layout["outputs"])
    return {
        **layout,
        "page_number": page_number,
        "per_page": per_page,
        # where this page starts in the table's order: the drawer's previous / next follow it
        "row_offset": (page_number - 1) * per_page if page_number and not errors else None,
        "page_sizes": sorted({*PAGE_SIZES, per_page}),
        "page_size_query": [(k, v) for k, v in query.items() if k != "per_page"],
        "page": page,
        "filters": filters,
        "result_errors": errors,
        "base_query": query.urlencode(),
        "sort_query": sort_query.urlencode(),
        "current_sort": page.sort,
        "numeric_bindings": [b for b in columns.bindings if b.is_numeric],
    }


CAP_INPUTS = {
    "max_agent_calls": ("Agent call cap", "numeric"),
    "max_judge_calls": ("Judge call cap", "numeric"),
    "max_tokens": ("Token cap", "numeric"),
    "max_cost": ("Cost cap ($)", "decimal"),
}


def _rerun_caps(run, typed: dict | None = None, errors: dict | None = None) -> list[dict]:
    """The run page's "Rerun with caps" fields: prefilled with the run's caps (empty: no
    cap), or with what was typed when the service refused it."""
    fields = []
    for name in CAP_FIELDS:
        label, inputmode = CAP_INPUTS[name]
        value = getattr(run, name)
        shown = "" if value is None else (f"{value:g}" if name == "max_cost" else str(value))
        if typed is not None:
            shown = typed.get(name, "")
        fields.append(
            {
                "name": name,
                "label": label,
                "inputmode": inputmode,
                "value": shown,
                "errors": (errors or {}).get(name, []),
            }
        )
    return fields


def _run_context(request: HttpRequest, project, run) -> dict:
    return {
        "project": project,
        "run": run,
        "progress": run_progress(run),
        "can_edit": can_edit(request, project),
        "formats": list(FORMATS),
        "budget": run_budget(run),
        "rerun_caps": _rerun_caps(run),
    }


def _results_html(request: HttpRequest, project, run, columns, context=None) -> str:
    """The results table (``detail.html#results``) as HTML. A finished run's is cached
    (``runs.results_cache``) by its query string: the section shows nothing specific to the
    user (no form tokens, no edit actions), and the caller has already checked access.
    ``context``: the page's, when it has one (else built on a miss only)."""

    def build() -> bytes:
        page = context or {**_run_context(request, project, run), "columns": columns}
        full = {**page, **_results_context(request, run, columns)}
        # Without the request: the section uses no context processor's value (and their
        # queries would run a second time for the page).
        return render_to_string("runs/detail.html#results", full).encode()

    query = tuple(sorted((k, tuple(v)) for k, v in request.GET.lists()))
    html = cached_page(run, "ui-results", query, columns.cache_labels(), build)
    return mark_safe(html.decode())  # noqa: S308 - our own rendered template


def _summaries_html(project, run, columns) -> str:
    """The metric summary cards (``detail.html#run-summaries``) as HTML; a finished run's
    is cached like its results table (its histograms read every result of the run)."""

    def build() -> bytes:
        context = {
            "project": project,
            "run": run,
            "columns": columns,
            "cards": metric_cards(run, columns=columns),
        }
        return render_to_string("runs/detail.html#run-summaries", context).encode()

    html = cached_page(run, "ui-summaries", (), columns.cache_labels(), build)
    return mark_safe(html.decode())  # noqa: S308 - our own rendered template


@require_GET
def run_detail(request: HttpRequest, project_id, run_id) -> HttpResponse:
    project = project_or_404(request, project_id)
    run = run_or_404(project, run_id)
    return _detail_page(request, project, run)


def _detail_page(request: HttpRequest, project, run, *, extra=None, status=200) -> HttpResponse:
    columns = run_columns(run)
    context = _run_context(request, project, run)
    context["columns"] = columns
    context["summaries_html"] = _summaries_html(project, run, columns)
    context["results_html"] = _results_html(request, project, run, columns, context)
    context.update(extra or {})
    return render(request, "runs/detail.html", context, status=status)


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
    if request.htmx and request.htmx.target != "run-summaries":
        return HttpResponse(_results_html(request, project, run, columns))
    if request.htmx:
        return HttpResponse(_summaries_html(project, run, columns))
    context = _run_context(request, project, run)
    context["columns"] = columns
    context["summaries_html"] = _summaries_html(project, run, columns)
    context["results_html"] = _results_html(request, project, run, columns, context)
    return render(request, "runs/detail.html", context)


def _attach_span_results(run, row: dict) -> None:
    """Each span binding's per-span results on the row's metric entries (three queries, none
    when the run's frozen config binds no metric to spans)."""
    from runs.models import MetricBinding

    config = run.config if isinstance(run.config, list) else []
    if not any(
        isinstance(m, dict) and m.get("span_type")
        for entry in config
        if isinstance(entry, dict)
        for m in entry.get("metrics") or []
    ):
        return
    span_types = dict(
        MetricBinding.objects.filter(run=run, span_type__isnull=False).values_list(
            "id", "span_type"
        )
    )
    if not span_types:
        return
    ids = {
        (entry, trial): task_id
        for task_id, entry, trial in RunTask.objects.filter(
            run=run, position=row["position"]
        ).values_list("id", "entry__position", "trial")
    }
    results = span_results_by_task(ids.values())
    for task in row.get("tasks", []):
        by_binding: dict[str, list] = {}
        for result in results.get(ids.get((task["entry"], task["trial"])), []):
            by_binding.setdefault(str(result["binding_id"]), []).append(result)
        for metric in task.get("metrics", []):
            span_type = span_types.get(parse_uuid(metric["binding_id"]))
            if span_type:
                metric["span_type"] = span_type
                metric["span_results"] = by_binding.get(metric["binding_id"], [])


def _row_neighbours(request: HttpRequest, run, columns, position: int) -> dict:
    """Links to the previous and next row: in the results table's order (its sort and
    filters, with ``i`` the row's index there) when the drawer was opened from the table,
    else by position."""

    def url(row_position: int) -> str:
        return reverse("runs:row", args=[run.project_id, run.pk, row_position])

    index = request.GET.get("i", "")
    if index.isdigit():
        filterset = ResultFilterSet(request.GET, queryset=RunTask.objects.none())
        filters, sort = filterset.table_filters(), filterset.sort_value()
        query = request.GET.copy()

        def at(offset: int) -> str | None:
            if offset < 0:
                return None
            try:
                page = results_table_page(
                    run,
                    offset=offset,
                    limit=1,
                    sort=sort,
                    filters=filters,
                    columns=columns,
                )
            except ValidationError:
                return None
            if not page.rows:
                return None
            query["i"] = str(offset)
            return f"{url(page.rows[0].position)}?{query.urlencode()}"

        i = int(index)
        return {"previous_url": at(i - 1), "next_url": at(i + 1)}
    last = run.dataset_version.row_count - 1
    return {
        "previous_url": url(position - 1) if position > 0 else None,
        "next_url": url(position + 1) if position < last else None,
    }


@require_GET
def run_row(request: HttpRequest, project_id, run_id, position: int) -> HttpResponse:
    project = project_or_404(request, project_id)
    run = run_or_404(project, run_id)
    columns = run_columns(run)
    row = run_result_row(run, position, columns=columns)
    if row is None:
        raise Http404("No such row in this run.")
    # Traces as trees: the dataset's recorded trace and each workflow's reported spans.
    trace_key = next((k for k, v in (row.get("data") or {}).items() if spans_of(v)), None)
    row["trace_key"] = trace_key
    row["trace_tree"] = span_tree(spans_of(row["data"][trace_key])) if trace_key else []
    for task in row.get("tasks", []):
        task["span_tree"] = span_tree(spans_of(task.get("spans") or []))
    _attach_span_results(run, row)
    context = {
        "project": project,
        "run": run,
        "row": row,
        "columns": columns,
        **_row_neighbours(request, run, columns, position),
    }
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
    # The "Rerun with caps" form sends every cap (empty: no cap); the plain button none.
    caps = None
    if request.POST.get("caps_sent"):
        caps = {name: request.POST.get(name, "").strip()[:40] for name in CAP_FIELDS}
    try:
        services.run_rerun(run=run, caps=caps)
    except ValidationError as exc:
        errors = exc.message_dict
        fields = _rerun_caps(run, typed=caps or {}, errors=errors)
        return _detail_page(request, project, run, extra={"rerun_caps": fields}, status=400)
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
