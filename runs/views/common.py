"""Small helpers the runs views share: the project and run a request may see, and the
htmx-aware rendering of a page or one of its partials."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from projects.access import can, project_for_user
from projects.models import Project, Role
from runs.models import EvaluationRun


def project_or_404(request: HttpRequest, project_id, *, role: str = Role.VIEWER) -> Project:
    return project_for_user(request.user, project_id, role=role)


def run_or_404(project: Project, run_id) -> EvaluationRun:
    run = (
        EvaluationRun.objects.filter(project=project, pk=run_id)
        .select_related("dataset_version__dataset", "started_by")
        .first()
    )
    if run is None:
        raise Http404("No such evaluation run.")
    return run


def can_edit(request: HttpRequest, project: Project) -> bool:
    return can(request.user, project, Role.EDITOR)


def render_page_or_partial(
    request: HttpRequest, template: str, partial: str, context: dict, *, status: int = 200
) -> HttpResponse:
    """The whole page, or only ``partial`` when htmx asks (and is not boosting a link)."""
    name = template
    if request.htmx and not request.htmx.boosted:
        name = f"{template}#{partial}"
    return render(request, name, context, status=status)
