"""Reads of the metric catalogue, shared by the UI, the APIs and the runs engine."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import Http404

from metrics.models import Metric, MetricCategory, MetricVersion
from projects.access import projects_for_user, require_role
from projects.models import Membership, Project, Role


def metrics_for_project(project: Project) -> QuerySet[Metric]:
    """The built-ins plus the project's own live metrics."""
    return (
        Metric.objects.alive()
        .filter(Q(project=project) | Q(project__isnull=True))
        .annotate(version_count=Count("versions"))
        .order_by("category", "rank", "name")
    )


def metrics_for_user(user) -> QuerySet[Metric]:
    """Built-ins plus the live metrics of every project the user belongs to."""
    return (
        Metric.objects.alive()
        .filter(Q(project__isnull=True) | Q(project__in=projects_for_user(user)))
        .order_by("category", "rank", "name")
    )


def filter_metrics(
    queryset: QuerySet[Metric],
    *,
    search: str = "",
    category: str = "",
    metric_type: str = "",
    origin: str = "",
) -> QuerySet[Metric]:
    if search:
        queryset = queryset.filter(Q(name__icontains=search) | Q(description__icontains=search))
    if category:
        queryset = queryset.filter(category=category)
    if metric_type:
        queryset = queryset.filter(metric_type=metric_type)
    if origin == "builtin":
        queryset = queryset.filter(project__isnull=True)
    elif origin == "project":
        queryset = queryset.filter(project__isnull=False)
    return queryset


def group_by_category(metrics) -> list[tuple[str, list[Metric]]]:
    labels = dict(MetricCategory.choices)
    groups: dict[str, list[Metric]] = {}
    for metric in metrics:
        groups.setdefault(metric.category, []).append(metric)
    order = list(labels)
    return [
        (labels.get(key, key), groups[key])
        for key in sorted(groups, key=lambda k: order.index(k) if k in order else 99)
    ]


def metric_for_user(user, metric_id, *, project: Project | None = None, role=Role.VIEWER):
    """The metric ``metric_id`` if the user may see it (404 otherwise); built-ins are shared.

    With ``project`` given, a project metric must belong to it. Asking to write (role above
    viewer) a built-in answers 403.
    """
    try:
        metric = Metric.objects.select_related("project").get(pk=metric_id, deleted_at=None)
    except (Metric.DoesNotExist, ValueError, ValidationError) as exc:
        raise Http404("No such metric.") from exc
    if metric.is_builtin:
        if not user.is_authenticated:
            raise Http404("No such metric.")
        if project is not None:
            require_role(user, project, Role.VIEWER)
        if Role.rank(role) > Role.rank(Role.VIEWER):
            raise PermissionDenied("Built-in metrics are read-only.")
        return metric
    if project is not None and metric.project_id != project.pk:
        raise Http404("No such metric.")
    require_role(user, metric.project, role)
    return metric


def metric_for_try(user, metric_id, *, project: Project | None = None) -> Metric:
    """The metric ``metric_id`` for "Try it", which needs the editor role: in ``project``
    (the UI page's project) or the metric's project; for a built-in without a project, in at
    least one of the user's projects. 404 when not visible, 403 when the role is too low."""
    metric = metric_for_user(user, metric_id, project=project)
    if project is not None:
        require_role(user, project, Role.EDITOR)
    elif not metric.is_builtin:
        require_role(user, metric.project, Role.EDITOR)
    elif not Membership.objects.filter(user=user, role__in=[Role.EDITOR, Role.ADMIN]).exists():
        raise PermissionDenied("Trying a metric needs the editor role in a project.")
    return metric


def versions_for_metric(metric: Metric) -> QuerySet[MetricVersion]:
    return metric.versions.select_related("created_by").order_by("-number")


def version_for_metric(metric: Metric, version_id) -> MetricVersion:
    try:
        version = metric.versions.select_related("created_by").get(pk=version_id)
    except (MetricVersion.DoesNotExist, ValueError, ValidationError) as exc:
        raise Http404("No such metric version.") from exc
    version.metric = metric
    return version


def latest_versions(metric_ids) -> dict:
    """metric id -> its latest version, in one query."""
    latest: dict = {}
    for version in MetricVersion.objects.filter(metric_id__in=list(metric_ids)).order_by(
        "metric_id", "-number"
    ):
        latest.setdefault(version.metric_id, version)
    return latest
