"""Evaluations -> EVALUATIONS: the runs list (live while runs work) and run comparison."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django_htmx.http import HttpResponseStopPolling

from datasets.selectors import datasets_with_released_versions
from runs.compare import runs_compare
from runs.compare_rows import compare_rows
from runs.filtersets import RunFilterSet
from runs.selectors import runs_for_project
from runs.views.common import can_edit, project_or_404

PAGE_SIZE = 25


def _filtered_runs(request: HttpRequest, project):
    datasets = list(datasets_with_released_versions(project))
    filterset = RunFilterSet(request.GET or None, runs_for_project(project), datasets=datasets)
    form = filterset.form
    # A bad value is a form error on the list (the API answers 400); the list is unfiltered.
    runs = filterset.qs if filterset.is_valid() else runs_for_project(project)
    paginator = Paginator(runs, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return {
        "form": form,
        "datasets": datasets,
        "page": page,
        "runs": list(page.object_list),
        "filtered": filterset.filtered,
        "query": query.urlencode(),
        "full_query": request.GET.urlencode(),
    }


@require_GET
def run_list(request: HttpRequest, project_id) -> HttpResponse:
    project = project_or_404(request, project_id)
    context = {"project": project, "can_edit": can_edit(request, project)}
    context.update(_filtered_runs(request, project))
    context["polling"] = any(run.is_active for run in context["runs"])
    if request.htmx and request.htmx.target == "runs-table":
        return render(request, "runs/list.html#runs-table", context)
    return render(request, "runs/list.html", context)


@require_GET
def run_list_rows(request: HttpRequest, project_id) -> HttpResponse:
    """The polled tbody: re-rendered every 2 s while a run on the page is active; the last
    answer (no run active) says stop polling."""
    project = project_or_404(request, project_id)
    context = {"project": project, "can_edit": can_edit(request, project)}
    context.update(_filtered_runs(request, project))
    context["polling"] = any(run.is_active for run in context["runs"])
    response = render(request, "runs/list.html#runs-rows", context)
    if not context["polling"]:
        return HttpResponseStopPolling(response.content)
    return response


def _candidate_groups(candidates) -> list[dict]:
    """Finished runs grouped by dataset version: only runs in one group are comparable."""
    groups: dict = {}
    for run in candidates:
        version = run.dataset_version
        group = groups.setdefault(version.pk, {"version": version, "runs": []})
        group["runs"].append(run)
    return list(groups.values())


@require_GET
def run_compare(request: HttpRequest, project_id) -> HttpResponse:
    project = project_or_404(request, project_id)
    run_ids = list(dict.fromkeys(r for r in request.GET.getlist("runs") if r))
    comparison, rows = None, None
    errors: list[str] = []
    candidates = runs_for_project(project).filter(status__in=["succeeded", "partially_succeeded"])
    picked = None
    if len(run_ids) == 1:
        # One run picked (the run page's "Compare…"): offer its comparable runs, no error.
        try:
            picked = runs_for_project(project).filter(pk=run_ids[0]).first()
        except (ValueError, ValidationError):
            picked = None
        if picked is None:
            errors = ["Unknown run."]
    elif run_ids:
        try:
            comparison = runs_compare(project=project, run_ids=run_ids)
        except ValidationError as exc:
            errors = [m for messages in exc.message_dict.values() for m in messages]
        else:
            picked = comparison.baseline
            after = request.GET.get("after", "")
            rows = compare_rows(
                comparison,
                regressions_only=request.GET.get("rows") == "regressions",
                after=int(after) if after.isdigit() else None,
            )
    if picked is not None:
        candidates = candidates.filter(dataset_version_id=picked.dataset_version_id)
    query = request.GET.copy()
    query.pop("after", None)
    rows_query = query.copy()
    rows_query.pop("rows", None)
    return render(
        request,
        "runs/compare.html",
        {
            "project": project,
            "comparison": comparison,
            "rows": rows,
            "errors": errors,
            "picked": picked,
            "selected": set(run_ids),
            "groups": _candidate_groups(
                candidates.select_related("dataset_version__dataset")[:200]
            ),
            "query": query.urlencode(),
            "rows_query": rows_query.urlencode(),
        },
        status=400 if errors else 200,
    )
