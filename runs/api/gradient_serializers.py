"""Input serializers of the Gradient dialect, and output serializers that describe (for the
OpenAPI schema) the dicts ``gradient_shapes`` builds. Field names follow the ``gradient`` SDK."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from metrics.models import MetricValueType
from runs.api.gradient_shapes import RUN_STATUSES

SPAN_TYPES = (
    "TRACE_SPAN_TYPE_UNKNOWN",
    "TRACE_SPAN_TYPE_LLM",
    "TRACE_SPAN_TYPE_RETRIEVER",
    "TRACE_SPAN_TYPE_TOOL",
)
VALUE_TYPES = ("METRIC_VALUE_TYPE_UNSPECIFIED", *MetricValueType.values)


# --- inputs -----------------------------------------------------------------------------------


class StarMetricIn(serializers.Serializer):
    metric_uuid = serializers.UUIDField()
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    success_threshold = serializers.FloatField(required=False, allow_null=True)
    success_threshold_pct = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=100
    )


class MetricUuidsIn(serializers.Serializer):
    metric_uuids = serializers.ListField(child=serializers.UUIDField(), max_length=50)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "array", "items": {"type": "string", "format": "uuid"}, "maxItems": 50},
            {
                "type": "object",
                "properties": {
                    "metric_uuids": {
                        "type": "array",
                        "items": {"type": "string", "format": "uuid"},
                        "maxItems": 50,
                    }
                },
            },
        ]
    }
)
class MetricsField(serializers.Field):
    """A list of metric uuids, or ``{"metric_uuids": [...]}`` as the SDK's update sends."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            data = data.get("metric_uuids", [])
        field = serializers.ListField(child=serializers.UUIDField(), max_length=50)
        return [str(value) for value in field.run_validation(data)]

    def to_representation(self, value):
        return value


class TestCaseCreateIn(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    dataset_uuid = serializers.UUIDField()
    metrics = MetricsField(required=False)
    star_metric = StarMetricIn(required=False, allow_null=True)
    workspace_uuid = serializers.UUIDField(required=False, allow_null=True)
    agent_workspace_name = serializers.CharField(required=False, allow_blank=True)
    run_options = serializers.JSONField(
        required=False,
        help_text="evalsite extra: repetitions, max_agent_calls, max_judge_calls, max_tokens, "
        "max_cost, cache_agent_calls, cache_judge_calls for the runs the test case starts.",
    )


class TestCaseUpdateIn(serializers.Serializer):
    name = serializers.CharField(required=False, max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    dataset_uuid = serializers.UUIDField(required=False)
    metrics = MetricsField(required=False)
    star_metric = StarMetricIn(required=False, allow_null=True)
    test_case_uuid = serializers.UUIDField(required=False)
    run_options = serializers.JSONField(
        required=False,
        help_text="evalsite extra: repetitions, max_agent_calls, max_judge_calls, max_tokens, "
        "max_cost, cache_agent_calls, cache_judge_calls for the runs the test case starts.",
    )


class TestCaseVersionQuery(serializers.Serializer):
    evaluation_test_case_version = serializers.IntegerField(
        required=False, min_value=1, max_value=2**31 - 1
    )


class RunCreateIn(serializers.Serializer):
    test_case_uuid = serializers.UUIDField()
    agent_uuids = serializers.ListField(
        child=serializers.UUIDField(), required=False, default=list, max_length=20
    )
    agent_deployment_names = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, default=list, max_length=20
    )
    run_name = serializers.CharField(required=False, allow_blank=True, max_length=200)

    def validate(self, attrs):
        if not attrs["agent_uuids"] and not attrs["agent_deployment_names"]:
            raise serializers.ValidationError(
                {
                    "agent_uuids": [
                        "Give at least one agent (agent_uuids or agent_deployment_names)."
                    ]
                }
            )
        return attrs


class ResultsQuery(serializers.Serializer):
    page = serializers.IntegerField(required=False, default=1, min_value=1, max_value=10**7)
    per_page = serializers.IntegerField(required=False, default=20, min_value=1, max_value=1000)


# --- outputs (schema) -------------------------------------------------------------------------
#
# Optional fields without a value are omitted, never ``null`` (``required=False`` below):
# e.g. ``number_value`` on a string metric or an error, ``input_tokens`` when the agent
# reported none, ``finished_at`` of a running run, ``chunk_used`` nobody measured.


class MetricResultOut(serializers.Serializer):
    error_description = serializers.CharField()
    metric_name = serializers.CharField()
    metric_value_type = serializers.ChoiceField(choices=VALUE_TYPES)
    number_value = serializers.FloatField(required=False)
    reasoning = serializers.CharField()
    string_value = serializers.CharField(required=False)


class EvaluationRunOut(serializers.Serializer):
    agent_deleted = serializers.BooleanField()
    agent_deployment_name = serializers.CharField()
    agent_name = serializers.CharField()
    agent_uuid = serializers.CharField()
    agent_version_hash = serializers.CharField()
    agent_workspace_uuid = serializers.CharField()
    created_by_user_email = serializers.CharField()
    created_by_user_id = serializers.CharField()
    error_description = serializers.CharField()
    evaluation_run_uuid = serializers.CharField()
    evaluation_test_case_workspace_uuid = serializers.CharField()
    finished_at = serializers.DateTimeField(required=False)
    pass_status = serializers.BooleanField(required=False)
    queued_at = serializers.DateTimeField(required=False)
    run_level_metric_results = MetricResultOut(many=True)
    run_name = serializers.CharField()
    star_metric_result = MetricResultOut(required=False)
    started_at = serializers.DateTimeField(required=False)
    status = serializers.ChoiceField(choices=RUN_STATUSES)
    test_case_description = serializers.CharField()
    test_case_name = serializers.CharField()
    test_case_uuid = serializers.CharField()
    test_case_version = serializers.IntegerField(required=False)


class ChunkOut(serializers.Serializer):
    chunk_usage_pct = serializers.FloatField(required=False)
    chunk_used = serializers.BooleanField(required=False)
    index_uuid = serializers.CharField()
    source_name = serializers.CharField()
    text = serializers.CharField()


class TraceSpanOut(serializers.Serializer):
    created_at = serializers.DateTimeField(required=False)
    input = serializers.JSONField(required=False)
    name = serializers.CharField()
    output = serializers.JSONField(required=False)
    retriever_chunks = ChunkOut(many=True)
    span_level_metric_results = MetricResultOut(many=True)
    type = serializers.ChoiceField(choices=SPAN_TYPES)


class PromptOut(serializers.Serializer):
    agent_name = serializers.CharField(
        required=False, help_text="The agent that produced this prompt (with-workflow runs)."
    )
    agent_uuid = serializers.CharField(required=False)
    evaluation_trace_spans = TraceSpanOut(many=True)
    ground_truth = serializers.CharField()
    input = serializers.CharField()
    input_tokens = serializers.CharField(required=False, help_text="uint64 as a string")
    output = serializers.CharField()
    output_tokens = serializers.CharField(required=False, help_text="uint64 as a string")
    prompt_chunks = ChunkOut(many=True)
    prompt_id = serializers.IntegerField()
    prompt_level_metric_results = MetricResultOut(many=True)
    trace_id = serializers.CharField()


class PagesOut(serializers.Serializer):
    first = serializers.CharField()
    last = serializers.CharField()
    next = serializers.CharField(required=False)
    previous = serializers.CharField(required=False)


class LinksOut(serializers.Serializer):
    pages = PagesOut()


class MetaOut(serializers.Serializer):
    page = serializers.IntegerField()
    pages = serializers.IntegerField()
    total = serializers.IntegerField()


class RunCreateOut(serializers.Serializer):
    evaluation_run_uuids = serializers.ListField(child=serializers.CharField())


class RunRetrieveOut(serializers.Serializer):
    evaluation_run = EvaluationRunOut()


class RunResultsOut(serializers.Serializer):
    evaluation_run = EvaluationRunOut()
    links = LinksOut()
    meta = MetaOut()
    prompts = PromptOut(many=True)


class PromptResultsOut(serializers.Serializer):
    prompt = PromptOut()


class RunListOut(serializers.Serializer):
    evaluation_runs = EvaluationRunOut(many=True)


class GradientMetricOut(serializers.Serializer):
    category = serializers.CharField()
    description = serializers.CharField()
    inverted = serializers.BooleanField()
    is_metric_goal = serializers.BooleanField()
    metric_name = serializers.CharField()
    metric_rank = serializers.IntegerField()
    metric_type = serializers.CharField()
    metric_uuid = serializers.CharField()
    metric_value_type = serializers.CharField()
    range_max = serializers.FloatField(required=False)
    range_min = serializers.FloatField(required=False)


class StarMetricOut(serializers.Serializer):
    metric_uuid = serializers.CharField()
    name = serializers.CharField()
    success_threshold = serializers.FloatField(required=False)
    success_threshold_pct = serializers.IntegerField(required=False)


class TestCaseDatasetOut(serializers.Serializer):
    created_at = serializers.DateTimeField(required=False)
    dataset_name = serializers.CharField()
    dataset_uuid = serializers.CharField()
    file_size = serializers.CharField()
    has_ground_truth = serializers.BooleanField()
    row_count = serializers.IntegerField()


class TestCaseOut(serializers.Serializer):
    archived_at = serializers.DateTimeField(required=False)
    created_at = serializers.DateTimeField()
    created_by_user_email = serializers.CharField()
    created_by_user_id = serializers.CharField()
    dataset = TestCaseDatasetOut(required=False)
    dataset_name = serializers.CharField()
    dataset_uuid = serializers.CharField()
    description = serializers.CharField()
    latest_version_number_of_runs = serializers.IntegerField()
    metrics = GradientMetricOut(many=True)
    name = serializers.CharField()
    star_metric = StarMetricOut(required=False)
    test_case_uuid = serializers.CharField()
    total_runs = serializers.IntegerField()
    updated_at = serializers.DateTimeField()
    updated_by_user_email = serializers.CharField()
    updated_by_user_id = serializers.CharField()
    version = serializers.IntegerField()
    workspace_uuid = serializers.CharField()


class TestCaseCreateOut(serializers.Serializer):
    test_case_uuid = serializers.CharField()


class TestCaseUpdateOut(serializers.Serializer):
    test_case_uuid = serializers.CharField()
    version = serializers.IntegerField()


class TestCaseListOut(serializers.Serializer):
    evaluation_test_cases = TestCaseOut(many=True)


class TestCaseRetrieveOut(serializers.Serializer):
    evaluation_test_case = TestCaseOut()
