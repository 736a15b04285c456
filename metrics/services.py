"""Writes to the metric catalogue. UI views and API views both call these."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from evalsite import safe_json
from evalsite.errors import ConflictError
from evalsite.outbound.interactive import interactive_call
from metrics.models import (
    Metric,
    MetricCategory,
    MetricType,
    MetricValueType,
    MetricVersion,
)
from metrics.registry import get_implementation
from metrics.scoring import MetricOutcome, build_scorer
from projects.models import Project

MAX_TRY_INPUT_BYTES = 1_000_000
METADATA_FIELDS = ("name", "description", "category", "metric_type", "inverted", "rank")


def _clean_metadata(data: dict[str, Any]) -> tuple[dict, dict[str, list[str]]]:
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    if "name" in data:
        name = (data["name"] or "").strip() if isinstance(data["name"], str) else None
        if not name:
            errors["name"] = ["Give the metric a name."]
        elif len(name) > 200:
            errors["name"] = ["At most 200 characters."]
        else:
            cleaned["name"] = name
    if "description" in data:
        if not isinstance(data["description"] or "", str):
            errors["description"] = ["Must be text."]
        else:
            cleaned["description"] = (data["description"] or "")[:5000]
    for field, choices in (("category", MetricCategory), ("metric_type", MetricType)):
        if field in data and data[field] is not None:
            if data[field] not in choices.values:
                errors[field] = [f"Must be one of: {', '.join(choices.values)}."]
            else:
                cleaned[field] = data[field]
    if "inverted" in data and data["inverted"] is not None:
        if not isinstance(data["inverted"], bool):
            errors["inverted"] = ["Must be true or false."]
        else:
            cleaned["inverted"] = data["inverted"]
    if "rank" in data and data["rank"] is not None:
        if isinstance(data["rank"], bool) or not isinstance(data["rank"], int):
            errors["rank"] = ["Must be a whole number."]
        elif not -(2**31) <= data["rank"] < 2**31:  # the database column is a 32-bit integer
            errors["rank"] = ["Must be between -2147483648 and 2147483647."]
        else:
            cleaned["rank"] = data["rank"]
    return cleaned, errors


def _value_settings(
    implementation, params: dict, *, value_type, range_min, range_max
) -> tuple[dict, dict[str, list[str]]]:
    """Value type and range: fixed by the implementation, or chosen for custom metrics."""
    if not implementation.user_value_type:
        low, high = implementation.value_range(params)
        return {
            "value_type": implementation.value_type,
            "range_min": low,
            "range_max": high,
        }, {}
    errors: dict[str, list[str]] = {}
    value_type = value_type or MetricValueType.NUMBER
    if value_type not in MetricValueType.values:
        errors["value_type"] = [f"Must be one of: {', '.join(MetricValueType.values)}."]
    if value_type == MetricValueType.PERCENTAGE:
        range_min = 0.0 if range_min is None else range_min
        range_max = 100.0 if range_max is None else range_max
    for field, value in (("range_min", range_min), ("range_max", range_max)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            errors[field] = ["Must be a number."]
    if not errors and range_min is not None and range_max is not None and range_min >= range_max:
        errors["range_max"] = ["Must be greater than range_min."]
    if value_type == MetricValueType.STRING:
        range_min = range_max = None
    return {"value_type": value_type, "range_min": range_min, "range_max": range_max}, errors


def _check_writable(metric: Metric) -> None:
    if metric.is_builtin:
        raise PermissionDenied("Built-in metrics are read-only; create a project metric instead.")
    if metric.is_deleted:
        raise ConflictError("This metric was deleted.", code="deleted")


def _carry_secrets(implementation, params: Any, previous: MetricVersion | None) -> Any:
    """Secret params left out (or sent back masked) keep the previous version's value."""
    if previous is None or previous.implementation != implementation.key:
        return params
    if not isinstance(params, dict):
        return params
    params = dict(params)
    for spec in implementation.params:
        if not spec.is_secret:
            continue
        sent = params.get(spec.name)
        masked = isinstance(sent, dict) and sent.get("secret") is True and "env" not in sent
        if (sent in (None, "") or masked) and previous.params.get(spec.name):
            params[spec.name] = previous.params[spec.name]
        elif isinstance(sent, dict) and sent.get("secret") is True and "env" in sent:
            params[spec.name] = {"env": sent["env"]}
    return params


@transaction.atomic
def metric_create(
    *,
    project: Project,
    user,
    name: str,
    implementation: str,
    params: dict | None = None,
    inputs: list | None = None,
    description: str = "",
    category: str | None = None,
    metric_type: str | None = None,
    value_type: str | None = None,
    range_min: float | None = None,
    range_max: float | None = None,
    inverted: bool | None = None,
    rank: int | None = None,
) -> Metric:
    """A project metric with its first version; every problem is reported per field."""
    metadata, errors = _clean_metadata(
        {
            "name": name,
            "description": description,
            "category": category,
            "metric_type": metric_type,
            "inverted": inverted,
            "rank": rank,
        }
    )
    try:
        impl = get_implementation(implementation)
    except ValidationError as exc:
        errors.update(exc.message_dict)
        raise ValidationError(errors) from None
    clean_params, clean_inputs = {}, []
    try:
        clean_params, clean_inputs = impl.clean(params or {}, inputs)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    values, value_errors = _value_settings(
        impl, clean_params, value_type=value_type, range_min=range_min, range_max=range_max
    )
    errors.update(value_errors)
    if "name" in metadata and (
        Metric.objects.alive().filter(project=project, name=metadata["name"]).exists()
    ):
        errors["name"] = ["A metric with this name already exists in the project."]
    if errors:
        raise ValidationError(errors)
    metadata.setdefault("category", impl.category)
    metadata.setdefault("metric_type", impl.metric_type)
    metadata.setdefault("inverted", impl.inverted)
    metric = Metric.objects.create(project=project, created_by=user, **metadata, **values)
    MetricVersion.objects.create(
        metric=metric,
        number=1,
        implementation=impl.key,
        params=clean_params,
        inputs=clean_inputs,
        created_by=user,
    )
    return metric


@transaction.atomic
def metric_version_create(
    *,
    metric: Metric,
    user,
    implementation: str | None = None,
    params: dict | None = None,
    inputs: list | None = None,
    value_type: str | None = None,
    range_min: float | None = None,
    range_max: float | None = None,
    note: str = "",
) -> MetricVersion:
    """A new immutable version; existing versions never change."""
    _check_writable(metric)
    metric = Metric.objects.select_for_update().get(pk=metric.pk)
    previous = metric.latest_version()
    impl = get_implementation(implementation or (previous.implementation if previous else ""))
    params = _carry_secrets(impl, params if params is not None else {}, previous)
    if inputs is None and previous is not None and impl.key == previous.implementation:
        inputs = previous.inputs
    clean_params, clean_inputs = impl.clean(params, inputs)
    values, errors = _value_settings(
        impl,
        clean_params,
        value_type=value_type or metric.value_type,
        range_min=range_min if range_min is not None else metric.range_min,
        range_max=range_max if range_max is not None else metric.range_max,
    )
    if not isinstance(note, str) or len(note) > 500:
        errors["note"] = ["At most 500 characters of text."]
    if errors:
        raise ValidationError(errors)
    changed = [field for field, value in values.items() if getattr(metric, field) != value]
    for field in changed:
        setattr(metric, field, values[field])
    metric.updated_at = timezone.now()
    metric.save(update_fields=[*changed, "updated_at"])
    try:
        return MetricVersion.objects.create(
            metric=metric,
            number=(previous.number + 1) if previous else 1,
            implementation=impl.key,
            params=clean_params,
            inputs=clean_inputs,
            note=note,
            created_by=user,
        )
    except IntegrityError as exc:  # pragma: no cover - guarded by the row lock
        raise ConflictError("Another version was created at the same time; retry.") from exc


@transaction.atomic
def metric_update(*, metric: Metric, user, **changes) -> Metric:
    """Change a metric's descriptive metadata (name, description, category, ...)."""
    _check_writable(metric)
    unknown = set(changes) - set(METADATA_FIELDS)
    if unknown:
        raise ValidationError({field: ["This field cannot be changed here."] for field in unknown})
    metadata, errors = _clean_metadata(changes)
    if (
        "name" in metadata
        and Metric.objects.alive()
        .filter(project=metric.project, name=metadata["name"])
        .exclude(pk=metric.pk)
        .exists()
    ):
        errors["name"] = ["A metric with this name already exists in the project."]
    if errors:
        raise ValidationError(errors)
    for field, value in metadata.items():
        setattr(metric, field, value)
    metric.updated_at = timezone.now()
    metric.save(update_fields=[*metadata, "updated_at"])
    return metric


@transaction.atomic
def metric_delete(*, metric: Metric, user) -> None:
    """Mark a project metric deleted; its versions stay for the runs that pinned them."""
    _check_writable(metric)
    metric.mark_deleted()


def metric_try(*, version: MetricVersion, inputs: Any, user) -> MetricOutcome:
    """Score sample inputs with ``version`` (the Try it panel); nothing is stored. Runs under
    the interactive limits (per-user rate, short timeout, no retries; raises
    ``TryRateLimited``); the caller has checked that ``user`` is an editor."""
    if isinstance(inputs, str):
        try:
            inputs = safe_json.loads(inputs) if inputs.strip() else {}
        except json.JSONDecodeError as exc:
            raise ValidationError({"inputs": [f"Not valid JSON: {exc.msg}."]}) from None
        except safe_json.UnsafeJSON as exc:
            raise ValidationError({"inputs": [exc.message]}) from None
    if not isinstance(inputs, dict):
        raise ValidationError({"inputs": ["Give the inputs as an object of named values."]})
    if len(json.dumps(inputs, default=str)) > MAX_TRY_INPUT_BYTES:
        raise ValidationError({"inputs": ["Inputs are too large to try (max 1 MB)."]})
    unknown = set(inputs) - set(version.input_names())
    if unknown:
        raise ValidationError({"inputs": [f"Unknown input(s): {', '.join(sorted(unknown))}."]})
    scorer = build_scorer(version)
    with interactive_call(user=user):
        return scorer.score(inputs)


def metric_try_definition(
    *,
    project: Project,
    implementation: str,
    params: dict | None,
    inputs: list | None,
    sample: Any,
    user,
    value_type: str | None = None,
    range_min: float | None = None,
    range_max: float | None = None,
) -> MetricOutcome:
    """Score ``sample`` with a definition that is not saved yet (the builder's Try it): the
    same validation as ``metric_create``, then ``metric_try`` on an unsaved version."""
    impl = get_implementation(implementation)
    clean_params, clean_inputs = impl.clean(params or {}, inputs)
    values, errors = _value_settings(
        impl, clean_params, value_type=value_type, range_min=range_min, range_max=range_max
    )
    if errors:
        raise ValidationError(errors)
    metric = Metric(project=project, name="(unsaved)", **values)
    version = MetricVersion(
        metric=metric, number=0, implementation=impl.key, params=clean_params, inputs=clean_inputs
    )
    return metric_try(version=version, inputs=sample, user=user)


@transaction.atomic
def metric_revise(
    *,
    metric: Metric,
    user,
    metadata: dict,
    implementation: str,
    params: dict,
    inputs: list | None,
    value_type: str | None = None,
    range_min: float | None = None,
    range_max: float | None = None,
    note: str = "",
) -> MetricVersion | None:
    """The edit form: update the metadata and, when the definition changed, add a version.

    Returns the new version, or None when only metadata changed.
    """
    _check_writable(metric)
    errors: dict[str, list[str]] = {}
    try:
        metric_update(metric=metric, user=user, **metadata)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    previous = metric.latest_version()
    impl = get_implementation(implementation)
    try:
        clean_params, clean_inputs = impl.clean(
            _carry_secrets(impl, params, previous), inputs if impl.user_inputs else None
        )
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        transaction.set_rollback(True)
        raise ValidationError(errors)
    unchanged = (
        previous is not None
        and previous.implementation == impl.key
        and previous.params == clean_params
        and previous.inputs == clean_inputs
        and (
            not impl.user_value_type
            or (value_type, range_min, range_max)
            == (metric.value_type, metric.range_min, metric.range_max)
        )
    )
    if unchanged:
        return None
    return metric_version_create(
        metric=metric,
        user=user,
        implementation=impl.key,
        params=clean_params,
        inputs=clean_inputs,
        value_type=value_type,
        range_min=range_min,
        range_max=range_max,
        note=note,
    )
