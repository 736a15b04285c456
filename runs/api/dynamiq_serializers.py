"""Input and output serializers of ``/v1/evaluations`` (the Dynamiq dialect).

The run's ``config`` is checked by the service (``runs.mapping``), which reports one clear
message per problem keyed by its path (``config[0].metrics[1].input_transformer.selector.x``);
the nested serializers here describe that shape for the OpenAPI schema.
"""

from __future__ import annotations

from rest_framework import serializers

from runs.models import RunMode, RunPhase, RunStatus, TaskStatus
from runs.usage import run_usage

MAX_NAME = 200


class InputTransformerDoc(serializers.Serializer):
    selector = serializers.DictField(
        child=serializers.CharField(),
        help_text='Input name -> selector: "$.dataset.<column>", "$.workflow.<output>" or '
        '"$.trace".',
    )


class WorkflowRefDoc(serializers.Serializer):
    id = serializers.UUIDField()
    version_id = serializers.UUIDField(
        required=False, help_text="Pinned version; the latest one when omitted."
    )
    input_transformer = InputTransformerDoc(required=False)


class MetricRefDoc(serializers.Serializer):
    id = serializers.UUIDField()
    version_id = serializers.UUIDField(
        required=False, help_text="Pinned version; the latest one is captured when omitted."
    )
    input_transformer = InputTransformerDoc(required=False)
    span_type = serializers.ChoiceField(
        choices=["TRACE_SPAN_TYPE_LLM", "TRACE_SPAN_TYPE_RETRIEVER", "TRACE_SPAN_TYPE_TOOL"],
        required=False,
        help_text="Span-level metrics: score each span of this type in the row's trace "
        "(one result per span; the row's result is their mean).",
    )


class ConfigEntryDoc(serializers.Serializer):
    workflow = WorkflowRefDoc(
        required=False, allow_null=True, help_text="Omit for a dataset-only run."
    )
    metrics = MetricRefDoc(many=True)


class StarMetricDoc(serializers.Serializer):
    metric_id = serializers.UUIDField()
    threshold = serializers.FloatField(required=False, allow_null=True)


class CapsDoc(serializers.Serializer):
    """A run's caps (the service checks them: ``runs.options``); null: no cap."""

    max_agent_calls = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    max_judge_calls = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    max_tokens = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    max_cost = serializers.FloatField(
        required=False, allow_null=True, min_value=0, help_text="US dollars."
    )


class EvaluationRerunDoc(CapsDoc):
    """Optional raised caps for a rerun. A cap left out keeps its value; null removes it."""


class EvaluationCreateDoc(CapsDoc):
    """A new run: its config, star metric and options (repetitions, caps, call cache)."""

    name = serializers.CharField(max_length=MAX_NAME)
    project_id = serializers.UUIDField()
    dataset_id = serializers.UUIDField(required=False)
    dataset_version_id = serializers.UUIDField()
    config = ConfigEntryDoc(many=True)
    star_metric = StarMetricDoc(required=False, allow_null=True)
    repetitions = serializers.IntegerField(
        required=False, min_value=1, max_value=20, help_text="Trials per row x entry (1-20)."
    )
    cache_agent_calls = serializers.BooleanField(required=False, default=False)
    cache_judge_calls = serializers.BooleanField(required=False, default=True)


class EvaluationCreateIn(serializers.Serializer):
    """What the view checks itself; ``config`` and ``star_metric`` go to the service as sent."""

    name = serializers.CharField(max_length=MAX_NAME)
    project_id = serializers.UUIDField()
    dataset_id = serializers.UUIDField(required=False, allow_null=True)
    dataset_version_id = serializers.UUIDField()
    config = serializers.JSONField()
    star_metric = serializers.JSONField(required=False, allow_null=True)

    def validate_config(self, value):
        if not isinstance(value, list) or not value:
            raise serializers.ValidationError(
                "config must be a non-empty list of {workflow, metrics} entries."
            )
        return value


class UserOut(serializers.Serializer):
    id = serializers.CharField(source="pk")
    username = serializers.CharField()
    email = serializers.CharField()


class ProgressOut(serializers.Serializer):
    total = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    canceled = serializers.IntegerField()
    done = serializers.IntegerField()
    fraction = serializers.FloatField()


# Seed 000: runs "progress through pending, running, and end at succeeded, failed, or
# canceled". ``status`` takes only those values; ``status_detail`` is the finer state
# (cancelling is still running; partially succeeded is a succeeded run with failed rows,
# which ``rerun`` retries).
SEED_STATUSES = ("pending", "running", "succeeded", "failed", "canceled")
SEED_STATUS_OF = {
    RunStatus.PENDING: "pending",
    RunStatus.RUNNING: "running",
    RunStatus.CANCELLING: "running",
    RunStatus.SUCCEEDED: "succeeded",
    RunStatus.PARTIALLY_SUCCEEDED: "succeeded",
    RunStatus.FAILED: "failed",
    RunStatus.CANCELED: "canceled",
}
RUN_STATUSES_OF_SEED_STATUS = {
    seed: [status for status, mapped in SEED_STATUS_OF.items() if mapped == seed]
    for seed in SEED_STATUSES
}


class EvaluationOut(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    project_id = serializers.UUIDField()
    dataset_id = serializers.UUIDField(source="dataset_version.dataset_id")
    dataset_version_id = serializers.UUIDField()
    dataset_version = serializers.IntegerField(source="dataset_version.number")
    mode = serializers.ChoiceField(choices=RunMode.choices)
    status = serializers.SerializerMethodField(
        help_text="pending, running, succeeded, failed or canceled (seed 000's values)."
    )
    status_detail = serializers.ChoiceField(
        source="status",
        choices=RunStatus.choices,
        help_text="The finer state: `cancelling` while `status` is still running, "
        "`partially_succeeded` when a succeeded run has failed rows.",
    )
    phase = serializers.ChoiceField(choices=RunPhase.choices)
    pass_status = serializers.BooleanField(allow_null=True)
    star_metric = serializers.SerializerMethodField()
    started_by = UserOut(allow_null=True)
    queued_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    error_description = serializers.CharField(allow_blank=True)
    progress = serializers.SerializerMethodField()
    config = serializers.JSONField()
    test_case_id = serializers.UUIDField(allow_null=True)
    test_case_version = serializers.IntegerField(allow_null=True)
    repetitions = serializers.IntegerField()
    caps = serializers.SerializerMethodField()
    usage = serializers.SerializerMethodField()

    def get_caps(self, run) -> dict:
        return {
            "max_agent_calls": run.max_agent_calls,
            "max_judge_calls": run.max_judge_calls,
            "max_tokens": run.max_tokens,
            "max_cost": run.max_cost,
            "cap_reached": run.cap_reached or None,
            "cache_agent_calls": run.cache_agent_calls,
            "cache_judge_calls": run.cache_judge_calls,
        }

    def get_usage(self, run) -> dict:
        return run_usage(run)

    def get_status(self, run) -> serializers.ChoiceField(choices=SEED_STATUSES):
        return SEED_STATUS_OF.get(run.status, run.status)

    def get_star_metric(self, run) -> StarMetricDoc(allow_null=True):
        binding = run.star_binding
        if binding is None:
            return None
        return {"metric_id": str(binding.metric_version.metric_id), "threshold": run.star_threshold}

    def get_progress(self, run) -> ProgressOut:
        return {
            "total": run.total_tasks,
            "succeeded": run.succeeded_tasks,
            "failed": run.failed_tasks,
            "canceled": run.canceled_tasks,
            "done": run.done_tasks,
            "fraction": run.progress,
        }


class EvaluationListOut(serializers.Serializer):
    data = EvaluationOut(many=True)


class ResultMetricOut(serializers.Serializer):
    binding_id = serializers.UUIDField()
    metric_id = serializers.UUIDField()
    metric_name = serializers.CharField()
    metric_version_id = serializers.UUIDField()
    metric_version = serializers.IntegerField()
    number_value = serializers.FloatField(allow_null=True)
    string_value = serializers.CharField(allow_null=True)
    error_description = serializers.CharField(allow_blank=True)
    passed = serializers.BooleanField(allow_null=True)


class ResultTaskOut(serializers.Serializer):
    entry = serializers.IntegerField()
    workflow = serializers.JSONField(allow_null=True)
    status = serializers.ChoiceField(choices=TaskStatus.choices)
    error = serializers.CharField(allow_blank=True)
    outputs = serializers.JSONField()
    latency_ms = serializers.FloatField(allow_null=True)
    input_tokens = serializers.IntegerField(allow_null=True)
    output_tokens = serializers.IntegerField(allow_null=True)


class ResultRowOut(serializers.Serializer):
    position = serializers.IntegerField()
    item_id = serializers.UUIDField()
    status = serializers.CharField()
    data = serializers.JSONField()
    tasks = ResultTaskOut(many=True)
    metrics = ResultMetricOut(many=True)


class MetricSummaryOut(serializers.Serializer):
    binding_id = serializers.UUIDField()
    metric_id = serializers.UUIDField()
    metric_name = serializers.CharField()
    metric_version_id = serializers.UUIDField()
    value_type = serializers.CharField()
    inverted = serializers.BooleanField()
    is_star = serializers.BooleanField()
    count = serializers.IntegerField()
    errors = serializers.IntegerField()
    mean = serializers.FloatField(allow_null=True)
    median = serializers.FloatField(allow_null=True)
    p10 = serializers.FloatField(allow_null=True)
    p90 = serializers.FloatField(allow_null=True)
    stddev = serializers.FloatField(allow_null=True)
    min = serializers.FloatField(allow_null=True)
    max = serializers.FloatField(allow_null=True)
    threshold = serializers.FloatField(allow_null=True)
    pass_rate = serializers.FloatField(allow_null=True)
    value_counts = serializers.DictField(child=serializers.IntegerField(), allow_null=True)


class MetricSummaryListOut(serializers.Serializer):
    data = MetricSummaryOut(many=True)


class MessageOut(serializers.Serializer):
    message = serializers.CharField()
