"""Reads behind the Gradient test case endpoints: the dataset a request names, the test cases
a user sees (with run counts), and ``APIEvaluationTestCase`` bodies for any saved version."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Count, F, Q, QuerySet
from django.http import Http404

from datasets.models import Dataset, DatasetVersion, VersionStatus
from metrics.models import Metric
from projects.access import project_for_user, scope_to_user
from projects.models import Role
from runs.api.gradient_shapes import test_case_dict
from runs.models import EvaluationTestCase, EvaluationTestCaseVersion


def resolve_dataset(user, dataset_uuid, *, workspace_uuid=None):
    """``(project, dataset)`` for a dataset named in a body. The workspace (project) is the
    dataset's own unless ``workspace_uuid`` names it; the user must be an editor there."""
    if workspace_uuid is not None:
        project = project_for_user(user, workspace_uuid, role=Role.EDITOR)
        dataset = Dataset.objects.filter(project=project, pk=dataset_uuid).first()
    else:
        dataset = (
            scope_to_user(Dataset.objects.select_related("project"), user)
            .filter(pk=dataset_uuid)
            .first()
        )
        project = dataset.project if dataset else None
        if project is not None:
            project_for_user(user, project.id, role=Role.EDITOR)
    if dataset is None:
        raise ValidationError({"dataset_uuid": ["No such dataset in this workspace."]})
    return project, dataset


def test_cases_for_user(user) -> QuerySet[EvaluationTestCase]:
    return (
        scope_to_user(EvaluationTestCase.objects.all(), user)
        .select_related("dataset", "created_by")
        .annotate(
            total_runs=Count("evaluation_runs", distinct=True),
            latest_version_runs=Count(
                "evaluation_runs",
                filter=Q(evaluation_runs__test_case_version=F("version")),
                distinct=True,
            ),
        )
        .order_by("name", "created_at")
    )


def _latest_released(dataset_ids) -> dict:
    latest = {}
    for version in DatasetVersion.objects.filter(
        dataset_id__in=dataset_ids, status=VersionStatus.RELEASED
    ).order_by("dataset_id", "number"):
        latest[version.dataset_id] = version
    return latest


def _metrics_by_id(metric_ids) -> dict:
    return {str(m.id): m for m in Metric.objects.filter(id__in=list(metric_ids))}


def test_case_dicts(cases) -> list[dict]:
    cases = list(cases)
    released = _latest_released({c.dataset_id for c in cases if c.dataset_id})
    metrics = _metrics_by_id({str(m) for c in cases for m in c.metrics or []})
    return [
        test_case_dict(
            case,
            snapshot=case.snapshot(),
            version=case.version,
            metrics_by_id=metrics,
            dataset=case.dataset,
            released=released.get(case.dataset_id),
            total_runs=case.total_runs,
            latest_version_runs=case.latest_version_runs,
        )
        for case in cases
    ]


def test_case_dict_for(test_case: EvaluationTestCase, *, version: int | None = None) -> dict:
    """The test case as of ``version`` (default: the current one); 404 for no such version."""
    snapshot = test_case.snapshot()
    if version is not None and version != test_case.version:
        saved = EvaluationTestCaseVersion.objects.filter(
            test_case=test_case, version=version
        ).first()
        if saved is None:
            raise Http404("No such version of this test case.")
        snapshot = saved.snapshot
    dataset = test_case.dataset
    if snapshot.get("dataset_id") and str(snapshot["dataset_id"]) != str(test_case.dataset_id):
        dataset = Dataset.objects.filter(pk=snapshot["dataset_id"]).first()
    counted = test_cases_for_user_counts(test_case)
    return test_case_dict(
        test_case,
        snapshot=snapshot,
        version=version or test_case.version,
        metrics_by_id=_metrics_by_id(snapshot.get("metrics") or []),
        dataset=dataset,
        released=_latest_released([dataset.id]).get(dataset.id) if dataset else None,
        total_runs=counted["total"],
        latest_version_runs=counted["latest"],
    )


def test_cases_for_user_counts(test_case: EvaluationTestCase) -> dict:
    return test_case.evaluation_runs.aggregate(
        total=Count("id"), latest=Count("id", filter=Q(test_case_version=test_case.version))
    )
