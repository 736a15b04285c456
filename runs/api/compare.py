"""``GET /v1/evaluations/{id}/compare?baseline=<id>``: the compare page's comparison as JSON.

The comparison is ``runs.compare.runs_compare_pair`` (the statistics the compare page shows:
the paired sign-flip test, its minimum number of paired rows, interval, effect size and
verdict), passed through as that function returns it. This view only finds both runs
through the access rules, explains why two runs cannot be compared, and adds what a build
gate needs besides: each run's status and ``pass_status``, and which metric is the run's
star metric.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from runs.api.lookups import run_for_user
from runs.columns import run_columns
from runs.compare import runs_compare_pair

VERDICTS = ["improved", "regressed", "no_significant_change", "not_enough_data"]


class DeltaOut(serializers.Serializer):
    """A paired difference, candidate minus baseline, as ``runs.compare`` computes it."""

    n = serializers.IntegerField(help_text="Rows with a value in both runs (paired by item).")
    mean_baseline = serializers.FloatField(allow_null=True)
    mean_other = serializers.FloatField(allow_null=True)
    delta = serializers.FloatField(allow_null=True, help_text="Mean per-row difference.")
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    confidence = serializers.FloatField()
    p_value = serializers.FloatField(allow_null=True)
    effect_size_dz = serializers.FloatField(allow_null=True, help_text="Cohen's d_z.")
    test = serializers.CharField(help_text="The test that gave the p-value.")
    method = serializers.CharField(allow_null=True)
    min_paired_rows = serializers.IntegerField()
    enough_rows = serializers.BooleanField()
    significant = serializers.BooleanField()


class RowChangeOut(serializers.Serializer):
    position = serializers.IntegerField(help_text="Dataset position of the row.")
    baseline = serializers.FloatField()
    other = serializers.FloatField()
    change = serializers.FloatField(help_text="Signed so that positive is better.")


class ComparedMetricOut(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    baseline_version = serializers.IntegerField()
    other_version = serializers.IntegerField()
    inverted = serializers.BooleanField(help_text="Lower is better.")


class MetricComparisonOut(DeltaOut):
    metric = ComparedMetricOut()
    agent = serializers.CharField()
    is_star = serializers.BooleanField(help_text="The candidate run's star metric.")
    verdict = serializers.ChoiceField(choices=VERDICTS)
    verdict_label = serializers.CharField()
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
    other = RunRefOut(help_text="The run being judged (the one in the path).")
    dataset_version_id = serializers.UUIDField()
    test = serializers.DictField(help_text="The test's name, alpha, minimum paired rows, …")
    metrics = MetricComparisonOut(many=True)
    latency_ms = DeltaOut()
    input_tokens = DeltaOut()
    output_tokens = DeltaOut()


def comparison_for_gate(*, baseline, run) -> dict:
    """``runs_compare_pair`` for ``run`` against ``baseline``, with the runs' status and
    pass status and each metric's ``is_star`` (the shape this endpoint answers)."""
    body = runs_compare_pair(project=run.project, baseline_id=baseline.id, other_id=run.id)
    for key, which in (("baseline", baseline), ("other", run)):
        body[key] = {**body[key], "status": which.status, "pass_status": which.pass_status}
    star = next((b for b in run_columns(run).bindings if b.is_star), None)
    for metric in body["metrics"]:
        metric["is_star"] = (
            star is not None
            and metric["metric"]["id"] == str(star.metric_id)
            and metric["agent"] == star.agent_label
        )
    return body


def _version_label(run) -> str:
    version = run.dataset_version
    return f'"{version.dataset.name}" version {version.number}'


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
        "item and each metric's change is judged on per-row differences (this run minus the "
        "baseline) with the test, minimum n, interval, effect size and verdict the page shows.",
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
        return Response(comparison_for_gate(baseline=baseline, run=run))
