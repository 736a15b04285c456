"""Reads on workflows, scoped to what a user may see."""

from __future__ import annotations

from django.db.models import Count, Max, QuerySet

from projects.access import object_for_user
from projects.models import Project, Role
from workflows.models import Workflow, WorkflowVersion


def workflows_for_project(project: Project, *, include_deleted: bool = False) -> QuerySet:
    qs = Workflow.objects.filter(project=project)
    if not include_deleted:
        qs = qs.active()
    return qs.annotate(version_count=Count("versions"), latest_number=Max("versions__number"))


def workflow_for_user(user, workflow_id, *, role: str = Role.VIEWER) -> Workflow:
    return object_for_user(Workflow.objects.all(), user, role=role, pk=workflow_id)


def version_for_workflow(workflow: Workflow, version_id) -> WorkflowVersion:
    from django.core.exceptions import ValidationError
    from django.http import Http404

    try:
        return workflow.versions.select_related("workflow").get(pk=version_id)
    except (WorkflowVersion.DoesNotExist, ValueError, ValidationError) as exc:
        raise Http404("No such workflow version.") from exc


def latest_versions(workflows) -> dict:
    """{workflow_id: latest WorkflowVersion} in one query."""
    ids = [w.pk for w in workflows]
    latest: dict = {}
    for version in WorkflowVersion.objects.filter(workflow_id__in=ids).order_by(
        "workflow_id", "-number"
    ):
        latest.setdefault(version.workflow_id, version)
    return latest


def active_workflows_with_versions(project: Project) -> QuerySet:
    """Workflows a new run may use (not deleted, at least one version)."""
    return workflows_for_project(project).filter(version_count__gt=0)


def config_diff(old: dict | None, new: dict) -> list[dict]:
    """Changed keys between two public configs: [{key, old, new}]."""
    old = old or {}
    rows = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            rows.append({"key": key, "old": old.get(key), "new": new.get(key)})
    return rows
