"""Input and output serializers of ``/v1/metrics``. Validation of the metric definition itself
(params, inputs, ranges) happens in the services, which report field errors."""

from __future__ import annotations

from rest_framework import serializers

from metrics.models import MetricCategory, MetricType, MetricValueType
from metrics.registry import get_implementation


class MetricInputOut(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    required = serializers.BooleanField()


class MetricVersionOut(serializers.Serializer):
    id = serializers.UUIDField()
    metric_id = serializers.UUIDField()
    number = serializers.IntegerField()
    implementation = serializers.CharField()
    params = serializers.SerializerMethodField()
    inputs = MetricInputOut(many=True)
    note = serializers.CharField(allow_blank=True)
    created_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_params(self, version) -> dict:
        try:
            return get_implementation(version.implementation).public_params(version.params)
        except Exception:  # unknown implementation: show nothing that could be secret
            return {}

    def get_created_by(self, version) -> str | None:
        return version.created_by.username if version.created_by_id else None


class MetricOut(serializers.Serializer):
    id = serializers.UUIDField()
    project_id = serializers.UUIDField(allow_null=True)
    is_builtin = serializers.BooleanField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    category = serializers.ChoiceField(choices=MetricCategory.choices)
    metric_type = serializers.ChoiceField(choices=MetricType.choices)
    value_type = serializers.ChoiceField(choices=MetricValueType.choices)
    range_min = serializers.FloatField(allow_null=True)
    range_max = serializers.FloatField(allow_null=True)
    inverted = serializers.BooleanField()
    rank = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    inputs = serializers.SerializerMethodField()
    latest_version = serializers.SerializerMethodField()

    def _latest(self, metric):
        latest = self.context.get("latest", {})
        if metric.pk in latest:
            return latest[metric.pk]
        return metric.latest_version()

    def get_inputs(self, metric) -> list[dict]:
        version = self._latest(metric)
        return list(version.inputs) if version else []

    def get_latest_version(self, metric) -> dict | None:
        version = self._latest(metric)
        return MetricVersionOut(version).data if version else None


class MetricListOut(serializers.Serializer):
    data = MetricOut(many=True)


class MetricVersionListOut(serializers.Serializer):
    data = MetricVersionOut(many=True)


class MetricCreateIn(serializers.Serializer):
    project_id = serializers.UUIDField(required=False)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    category = serializers.CharField(required=False, allow_null=True, default=None)
    metric_type = serializers.CharField(required=False, allow_null=True, default=None)
    value_type = serializers.CharField(required=False, allow_null=True, default=None)
    range_min = serializers.FloatField(required=False, allow_null=True, default=None)
    range_max = serializers.FloatField(required=False, allow_null=True, default=None)
    inverted = serializers.BooleanField(required=False, allow_null=True, default=None)
    rank = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=-(2**31), max_value=2**31 - 1
    )
    implementation = serializers.CharField(max_length=100)
    params = serializers.JSONField(required=False, default=dict)
    inputs = serializers.JSONField(required=False, default=None)


class MetricVersionCreateIn(serializers.Serializer):
    implementation = serializers.CharField(max_length=100, required=False, default=None)
    params = serializers.JSONField(required=False, default=None)
    inputs = serializers.JSONField(required=False, default=None)
    value_type = serializers.CharField(required=False, allow_null=True, default=None)
    range_min = serializers.FloatField(required=False, allow_null=True, default=None)
    range_max = serializers.FloatField(required=False, allow_null=True, default=None)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class MetricTryIn(serializers.Serializer):
    inputs = serializers.JSONField()


class MetricTryOut(serializers.Serializer):
    metric_name = serializers.CharField()
    metric_value_type = serializers.CharField()
    number_value = serializers.FloatField(allow_null=True)
    string_value = serializers.CharField(allow_null=True)
    reasoning = serializers.CharField(allow_null=True)
    error_description = serializers.CharField(allow_null=True)
    details = serializers.JSONField()
