"""Input and output shapes of the workflows API. Secrets never appear in an output."""

from __future__ import annotations

from rest_framework import serializers

from workflows.configs import public_config
from workflows.models import WorkflowKind


class WorkflowIoItem(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField(required=False, allow_blank=True)
    required = serializers.BooleanField(required=False)


class WorkflowVersionIn(serializers.Serializer):
    config = serializers.JSONField(
        help_text="Per kind. Secrets as {'secret': value}, {'env': NAME} or {'keep': true}."
    )
    inputs = serializers.JSONField(required=False)
    outputs = serializers.JSONField(required=False)


class WorkflowIn(WorkflowVersionIn):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    kind = serializers.ChoiceField(choices=WorkflowKind.choices)


class WorkflowTryIn(serializers.Serializer):
    inputs = serializers.JSONField()


class WorkflowVersionOut(serializers.Serializer):
    id = serializers.UUIDField()
    workflow_id = serializers.UUIDField()
    number = serializers.IntegerField()
    kind = serializers.CharField()
    config = serializers.SerializerMethodField()
    inputs = WorkflowIoItem(many=True)
    outputs = WorkflowIoItem(many=True)
    content_hash = serializers.CharField(help_text="Reported as agent_version_hash.")
    max_concurrency = serializers.IntegerField()
    created_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_config(self, version) -> dict:
        return public_config(version.config)

    def get_created_by(self, version) -> str | None:
        return version.created_by.get_username() if version.created_by_id else None


class WorkflowOut(serializers.Serializer):
    id = serializers.UUIDField()
    project_id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField()
    kind = serializers.CharField()
    is_deleted = serializers.BooleanField()
    deleted_at = serializers.DateTimeField()
    created_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    latest_version = serializers.SerializerMethodField()

    def get_created_by(self, workflow) -> str | None:
        return workflow.created_by.get_username() if workflow.created_by_id else None

    def get_latest_version(self, workflow) -> dict | None:
        latest = self.context.get("latest", {})
        version = latest[workflow.pk] if workflow.pk in latest else workflow.latest_version()
        return WorkflowVersionOut(version).data if version else None


class WorkflowListOut(serializers.Serializer):
    data = WorkflowOut(many=True)


class WorkflowVersionListOut(serializers.Serializer):
    data = WorkflowVersionOut(many=True)


class WorkflowChunkOut(serializers.Serializer):
    text = serializers.CharField()
    source_name = serializers.CharField()
    index_uuid = serializers.CharField()


class WorkflowTryOut(serializers.Serializer):
    outputs = serializers.DictField()
    input_tokens = serializers.IntegerField(allow_null=True)
    output_tokens = serializers.IntegerField(allow_null=True)
    chunks = WorkflowChunkOut(many=True)
    spans = serializers.ListField(child=serializers.DictField())
    latency_ms = serializers.FloatField()
    error = serializers.CharField(allow_null=True)
    raw = serializers.JSONField(allow_null=True)
