"""The Gradient dialect's shapes: ``APIEvaluationMetric`` and ``APIEvaluationMetricResult``
with exactly the field names and enum values of the published SDK."""

from __future__ import annotations

from typing import Any

from metrics.models import Metric


def metric_dict(metric: Metric, *, is_metric_goal: bool = False) -> dict:
    """``APIEvaluationMetric``."""
    body = {
        "category": metric.category,
        "description": metric.description,
        "inverted": metric.inverted,
        "is_metric_goal": is_metric_goal,
        "metric_name": metric.name,
        "metric_rank": metric.rank,
        "metric_type": metric.metric_type,
        "metric_uuid": str(metric.id),
        "metric_value_type": metric.value_type,
        "range_max": metric.range_max,
        "range_min": metric.range_min,
    }
    return {k: v for k, v in body.items() if v is not None}


def _get(outcome: Any, name: str):
    if isinstance(outcome, dict):
        return outcome.get(name)
    return getattr(outcome, name, None)


def metric_result_dict(metric: Metric, outcome: Any, *, name: str | None = None) -> dict:
    """``APIEvaluationMetricResult`` from a ``MetricOutcome`` or anything with its fields
    (a stored result row, a dict). ``name`` labels it (default: the metric's name). A value
    the metric did not produce is omitted, never ``null`` (no value at all on an error)."""
    error = _get(outcome, "error_description")
    number = _get(outcome, "number_value")
    string = _get(outcome, "string_value")
    result = {
        "error_description": error or "",
        "metric_name": name or metric.name,
        "metric_value_type": metric.value_type,
        "reasoning": _get(outcome, "reasoning") or "",
    }
    if not error and number is not None:
        result["number_value"] = number
    if not error and string is not None:
        result["string_value"] = string
    return result
