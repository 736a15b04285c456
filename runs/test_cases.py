"""Writes on evaluation test cases (the Gradient dialect's saved run templates): create,
update (each change is a new version with its snapshot), and run against agents (workflows).

Running a test case starts one run per agent through ``runs.services.run_start`` on the latest
released version of the test case's dataset, which the run records; the inputs of the agent
and of each metric are mapped to dataset columns and agent outputs by name.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from datasets.models import DatasetVersion, VersionStatus
from evalsite.errors import ConflictError
from metrics.selectors import metrics_for_project
from runs.mapping import suggest_selectors
from runs.models import EvaluationRun, EvaluationTestCase, EvaluationTestCaseVersion
from runs.services import run_start
from workflows.models import Workflow

MAX_METRICS = 50


def _clean_metrics(project, metric_ids: list, star_metric: dict | None) -> tuple[list, dict | None]:
    """The test case's metric ids (the star metric included) and its star metric; an unknown
    metric is reported under ``metrics``, an unknown star metric under ``star_metric``."""
    ids = list(dict.fromkeys(str(m) for m in metric_ids or []))
    star = None
    if star_metric:
        star = {
            "metric_uuid": str(star_metric.get("metric_uuid") or ""),
            "name": star_metric.get("name") or "",
            "success_threshold": star_metric.get("success_threshold"),
            "success_threshold_pct": star_metric.get("success_threshold_pct"),
        }
        if not star["metric_uuid"]:
            raise ValidationError({"star_metric": ["Name the star metric's metric_uuid."]})
    wanted = ids + ([star["metric_uuid"]] if star and star["metric_uuid"] not in ids else [])
    if not wanted:
        raise ValidationError({"metrics": ["Choose at least one metric."]})
    if len(wanted) > MAX_METRICS:
        raise ValidationError({"metrics": [f"At most {MAX_METRICS} metrics."]})
    known = {
        str(m.id): m
        for m in metrics_for_project(project).filter(id__in=_uuids(wanted)).only("id", "name")
    }
    unknown = [m for m in ids if m not in known]
    if unknown:
        raise ValidationError({"metrics": [f"No such metric: {', '.join(unknown)}."]})
    if star is not None:
        if star["metric_uuid"] not in known:
            raise ValidationError({"star_metric": [f"No such metric: {star['metric_uuid']}."]})
        if star["metric_uuid"] not in ids:
            ids.append(star["metric_uuid"])
        if not star["name"]:
            star["name"] = known[star["metric_uuid"]].name
        for key in ("success_threshold", "success_threshold_pct"):
            value = star[key]
            if value is not None and (
                not isinstance(value, int | float) or not math.isfinite(value)
            ):
                raise ValidationError({f"star_metric.{key}": ["Must be a number."]})
    return ids, star


def _uuids(values: list[str]) -> list[uuid.UUID]:
    """The values that are UUIDs (the others match no metric)."""
    found = []
    for value in values:
        try:
            found.append(uuid.UUID(value))
        except ValueError:
            continue
    return found


def _clean_options(run_options) -> dict:
    """Run options a test case stores for its runs (checked now, JSON-ready)."""
    from runs.options import clean_run_options

    if run_options in (None, {}):
        return {}
    if not isinstance(run_options, dict):
        raise ValidationError({"run_options": ["Must be an object."]})
    try:
        return clean_run_options(run_options, partial=True)
    except ValidationError as exc:
        raise ValidationError(
            {f"run_options.{key}": messages for key, messages in exc.message_dict.items()}
        ) from exc


def _check_dataset(project, dataset) -> None:
    if dataset is None or dataset.project_id != project.id:
        raise ValidationError({"dataset_uuid": ["No such dataset in this workspace."]})


def _save_version(test_case: EvaluationTestCase, user) -> None:
    EvaluationTestCaseVersion.objects.create(
        test_case=test_case,
        version=test_case.version,
        snapshot=test_case.snapshot(),
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )


@transaction.atomic
def test_case_create(
    *,
    project,
    user,
    name: str,
    dataset,
    metrics: list,
    description: str = "",
    star_metric: dict | None = None,
    run_options: dict | None = None,
) -> EvaluationTestCase:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": ["Give the test case a name."]})
    _check_dataset(project, dataset)
    metric_ids, star = _clean_metrics(project, metrics, star_metric)
    options = _clean_options(run_options)
    now = timezone.now()
    test_case = EvaluationTestCase.objects.create(
        project=project,
        name=name[:200],
        description=description or "",
        dataset=dataset,
        metrics=metric_ids,
        star_metric=star,
        run_options=options,
        version=1,
        created_by=user if getattr(user, "is_authenticated", False) else None,
        created_at=now,
        updated_at=now,
    )
    _save_version(test_case, user)
    return test_case


@transaction.atomic
def test_case_update(*, test_case: EvaluationTestCase, user, **changes: Any) -> EvaluationTestCase:
    """Apply ``name``, ``description``, ``dataset``, ``metrics``, ``star_metric``,
    ``run_options`` changes as a new version (runs keep the version they ran)."""
    locked = EvaluationTestCase.objects.select_for_update().get(pk=test_case.pk)
    if "name" in changes:
        name = (changes["name"] or "").strip()
        if not name:
            raise ValidationError({"name": ["Give the test case a name."]})
        locked.name = name[:200]
    if "description" in changes:
        locked.description = changes["description"] or ""
    if "dataset" in changes:
        _check_dataset(locked.project, changes["dataset"])
        locked.dataset = changes["dataset"]
    if "run_options" in changes:
        locked.run_options = _clean_options(changes["run_options"])
    metrics = changes.get("metrics", locked.metrics)
    star = changes.get("star_metric", locked.star_metric)
    locked.metrics, locked.star_metric = _clean_metrics(locked.project, metrics, star)
    locked.version += 1
    locked.updated_at = timezone.now()
    locked.save()
    _save_version(locked, user)
    return locked


# --- running a test case --------------------------------------------------------------------


def _star_for_run(test_case: EvaluationTestCase, metric) -> dict | None:
    return star_for_run(test_case.star_metric, metric)


def star_for_run(star: dict | None, metric) -> dict | None:
    """A run's ``star_metric`` from Gradient's ``{metric_uuid, success_threshold,
    success_threshold_pct}`` (a percentage of the metric's range)."""
    star = star or {}
    if not star.get("metric_uuid") or metric is None:
        return None
    threshold = star.get("success_threshold")
    pct = star.get("success_threshold_pct")
    if threshold is None and pct is not None:
        low = metric.range_min if metric.range_min is not None else 0.0
        high = metric.range_max if metric.range_max is not None else 1.0
        threshold = low + (high - low) * float(pct) / 100.0
    return {"metric_id": star["metric_uuid"], "threshold": threshold}


def entry_config(workflow_version, metric_ids, metrics: dict, *, columns, trace) -> dict:
    """One run config entry: ``workflow_version`` with its inputs read from the dataset
    columns of the same name (or the question column), and each metric of ``metric_ids``
    (``metrics``: id -> Metric) with its inputs mapped to columns and outputs by name."""
    outputs = workflow_version.output_names()
    metric_entries = []
    for metric_id in metric_ids:
        metric = metrics.get(str(metric_id))
        latest = metric.latest_version() if metric else None
        selector = (
            suggest_selectors(latest.inputs, columns=columns, outputs=outputs, trace=trace)
            if latest
            else {}
        )
        metric_entries.append({"id": str(metric_id), "input_transformer": {"selector": selector}})
    return {
        "workflow": {
            "id": str(workflow_version.workflow_id),
            "version_id": str(workflow_version.id),
            "input_transformer": {
                "selector": suggest_selectors(
                    workflow_version.inputs, columns=columns, for_workflow=True
                )
            },
        },
        "metrics": metric_entries,
    }


def test_case_run(
    *,
    test_case: EvaluationTestCase,
    user,
    workflow_ids: list,
    run_name: str = "",
    idempotency_key: str | None = None,
    idempotency_fingerprint: str = "",
) -> list[EvaluationRun]:
    """One run per workflow on the latest released version of the test case's dataset.
    All or nothing: a bad mapping for any agent starts none."""
    if test_case.dataset_id is None:
        raise ConflictError("The test case has no dataset.", code="no_dataset")
    version = (
        DatasetVersion.objects.filter(
            dataset_id=test_case.dataset_id, status=VersionStatus.RELEASED
        )
        .order_by("-number")
        .first()
    )
    if version is None:
        raise ConflictError(
            "The test case's dataset has no released version; release one first.",
            code="no_released_version",
        )
    columns = version.column_names()
    trace = version.is_trace_shaped
    metrics = {
        str(m.id): m
        for m in metrics_for_project(test_case.project).filter(id__in=test_case.metrics)
    }
    workflows = {
        w.id: w for w in Workflow.objects.filter(project=test_case.project, id__in=workflow_ids)
    }
    runs = []
    with transaction.atomic():
        for workflow_id in workflow_ids:
            workflow = workflows.get(workflow_id)
            if workflow is None:
                raise ValidationError({"agent_uuids": [f"No such agent: {workflow_id}."]})
            workflow_version = workflow.latest_version()
            if workflow_version is None:
                raise ValidationError(
                    {"agent_uuids": [f"Agent '{workflow.name}' has no version yet."]}
                )
            star = _star_for_run(
                test_case, metrics.get((test_case.star_metric or {}).get("metric_uuid"))
            )
            name = (run_name or "").strip() or f"{test_case.name} · {workflow.name}"
            key = f"{idempotency_key}:{workflow.id}" if idempotency_key else None
            config = [
                entry_config(
                    workflow_version, test_case.metrics, metrics, columns=columns, trace=trace
                )
            ]
            runs.append(
                run_start(
                    project=test_case.project,
                    user=user,
                    name=name[:200],
                    dataset_version_id=version.id,
                    config=config,
                    star_metric=star,
                    idempotency_key=key,
                    idempotency_fingerprint=idempotency_fingerprint,
                    test_case=test_case,
                    test_case_version=test_case.version,
                    options=dict(test_case.run_options or {}),
                )
            )
    return runs
