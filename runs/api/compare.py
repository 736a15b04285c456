"""``GET /v1/evaluations/{id}/compare?baseline=<id>``: the compare page as JSON.

The statistics come from ``runs.compare.runs_compare`` (the function the compare page calls)
and are passed through as that module computes them: every key of a paired difference
(``Delta.as_dict()``), the verdict and its label. This view only finds the two runs through
the access rules and shapes the answer; it never judges significance itself.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from runs.api.lookups import run_for_user
from runs.compare import runs_compare


class DeltaOut(serializers.Serializer):
    """A paired difference, candidate minus baseline (``runs.compare``'s figures)."""

    n = serializers.IntegerField(help_text="Rows with a value in both runs (paired by item).")
    mean_baseline = serializers.FloatField(allow_null=True)
    mean_other = serializers.FloatField(allow_null=True)
    delta = serializers.FloatField(allow_null=True, help_text="Mean per-row difference.")
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)
    significant = serializers.BooleanField()


class RowChangeOut(serializers.Serializer):
    position = serializers.IntegerField(help_text="Dataset position of the row.")
    baseline = serializers.FloatField()
    other = serializers.FloatField()
    change = serializers.FloatField(help_text="Signed so that positive is better.")


class MetricComparisonOut(serializers.Serializer):
    metric_id = serializers.UUIDField()
    metric_name = serializers.CharField()
    inverted = serializers.BooleanField(help_text="Lower is better.")
    agent = serializers.CharField()
    is_star = serializers.BooleanField(help_text="The candidate run's star metric.")
    baseline_binding_id = serializers.UUIDField()
    binding_id = serializers.UUIDField()
    verdict = serializers.ChoiceField(
        choices=["improved", "regressed", "no_significant_change", "not_enough_data"]
    )
    verdict_label = serializers.CharField()
    statistics = DeltaOut()
    improved_rows = serializers.IntegerField()
    regressed_rows = serializers.IntegerField()
    regressions = RowChangeOut(many=True, help_text="The largest per-row regressions.")
    improvements = RowChangeOut(many=True, help_text="The largest per-row improvements.")


class RunRefOut(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    status = serializers.CharField()
    pass_status = serializers.BooleanField(allow_null=True)


class ComparisonOut(serializers.Serializer):
    baseline = RunRefOut()
    evaluation = RunRefOut()
    dataset_version_id = serializers.UUIDField()
    metrics = MetricComparisonOut(many=True)
    latency_ms = DeltaOut()
    input_tokens = DeltaOut()
    output_tokens = DeltaOut()


def _run_ref(run) -> dict:
    return {
        "id": str(run.id),
        "name": run.name,
        "status": run.status,
        "pass_status": run.pass_status,
    }


def _row_change(change) -> dict:
    return {
        "position": change.position,
        "baseline": change.baseline,
        "other": change.other,
        "change": change.change,
    }


def _metric_out(metric, *, star_binding_id) -> dict:
    return {
        "metric_id": str(metric.baseline_binding.metric_id),
        "metric_name": metric.name,
        "inverted": metric.inverted,
        "agent": metric.agent,
        "is_star": star_binding_id is not None
        and str(metric.other_binding.id) == str(star_binding_id),
        "baseline_binding_id": str(metric.baseline_binding.id),
        "binding_id": str(metric.other_binding.id),
        "verdict": metric.verdict,
        "verdict_label": metric.verdict_label,
        "statistics": metric.delta.as_dict(),
        "improved_rows": metric.improved_rows,
        "regressed_rows": metric.regressed_rows,
        "regressions": [_row_change(c) for c in metric.regressions],
        "improvements": [_row_change(c) for c in metric.improvements],
    }


def comparison_body(pair) -> dict:
    """One baseline/candidate pair of ``runs_compare`` as the API answers it."""
    return {
        "baseline": _run_ref(pair.baseline),
        "evaluation": _run_ref(pair.other),
        "dataset_version_id": str(pair.other.dataset_version_id),
        "metrics": [
            _metric_out(m, star_binding_id=pair.other.star_binding_id) for m in pair.metrics
        ],
        "latency_ms": pair.latency.as_dict(),
        "input_tokens": pair.input_tokens.as_dict(),
        "output_tokens": pair.output_tokens.as_dict(),
    }


class EvaluationCompareApi(APIView):
    @extend_schema(
        tags=["evaluations"],
        parameters=[
            OpenApiParameter(
                "baseline",
                OpenApiTypes.UUID,
                required=True,
                description="The run to compare against (same dataset version).",
            )
        ],
        responses={
            200: ComparisonOut,
            400: OpenApiResponse(
                description="No baseline given, the same run twice, or runs on different "
                "dataset versions."
            ),
            404: OpenApiResponse(description="Either run is unknown or not in your projects."),
        },
        operation_id="evaluations_compare",
        description="The paired comparison of the compare page: rows are paired by dataset "
        "item and each metric's change is judged on per-row differences (candidate minus "
        "baseline), with the test, n and verdict the page shows.",
    )
    def get(self, request, evaluation_id):
        baseline_id = (request.query_params.get("baseline") or "").strip()
        if not baseline_id:
            raise ValidationError({"baseline": ["Give the baseline run's id: ?baseline=<id>."]})
        run = run_for_user(request, evaluation_id)
        baseline = run_for_user(request, baseline_id)
        if baseline.id == run.id:
            raise ValidationError({"baseline": ["Compare a run with a different run."]})
        if baseline.project_id != run.project_id:
            raise ValidationError({"baseline": ["The baseline belongs to another project."]})
        if baseline.dataset_version_id != run.dataset_version_id:
            raise ValidationError(
                {
                    "baseline": [
                        "Runs can only be compared on the same dataset version: the baseline "
                        f"ran on {_version_label(baseline)}, this run on {_version_label(run)}."
                    ]
                }
            )
        comparison = runs_compare(
            project=run.project, run_ids=[baseline.id, run.id], baseline_id=baseline.id
        )
        return Response(comparison_body(comparison.pairs[0]))


def _version_label(run) -> str:
    version = run.dataset_version
    return f'"{version.dataset.name}" version {version.number}'
