"""Input and output shapes of the ``/v1/datasets`` endpoints."""

from __future__ import annotations

from rest_framework import serializers

from datasets.exporting import EXPORT_FORMATS
from datasets.importing import FORMATS

MAX_ITEMS_PER_REQUEST = 1000


class DatasetCreateIn(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class ColumnOut(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()


class VersionOut(serializers.Serializer):
    id = serializers.UUIDField()
    dataset_id = serializers.UUIDField()
    number = serializers.IntegerField()
    status = serializers.CharField()
    columns = ColumnOut(many=True)
    row_count = serializers.IntegerField()
    checksum = serializers.CharField()
    is_trace_shaped = serializers.BooleanField()
    based_on_version_id = serializers.UUIDField(source="based_on_id", allow_null=True)
    created_by = serializers.CharField(source="created_by.username", default=None)
    created_at = serializers.DateTimeField()
    released_by = serializers.CharField(source="released_by.username", default=None)
    released_at = serializers.DateTimeField(allow_null=True)


class DatasetOut(serializers.Serializer):
    id = serializers.UUIDField()
    project_id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username", default=None)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    version_count = serializers.IntegerField(default=0)
    latest_released_version_id = serializers.UUIDField(
        source="latest_released_id", allow_null=True, default=None
    )
    latest_released_version_number = serializers.IntegerField(
        source="latest_released_number", allow_null=True, default=None
    )
    latest_released_row_count = serializers.IntegerField(
        source="latest_released_rows", allow_null=True, default=None
    )


class DatasetDetailOut(DatasetOut):
    versions = VersionOut(many=True, source="version_list")


class DatasetListOut(serializers.Serializer):
    data = DatasetOut(many=True)


class VersionListOut(serializers.Serializer):
    data = VersionOut(many=True)


class VersionCreateIn(serializers.Serializer):
    from_version_id = serializers.UUIDField(required=False, allow_null=True, default=None)


class ItemOut(serializers.Serializer):
    id = serializers.UUIDField()
    position = serializers.IntegerField()
    data = serializers.JSONField()


class ItemsAddIn(serializers.Serializer):
    items = serializers.ListField(
        child=serializers.JSONField(), min_length=1, max_length=MAX_ITEMS_PER_REQUEST
    )


class ItemsAddOut(serializers.Serializer):
    added = serializers.IntegerField()
    row_count = serializers.IntegerField()


class ItemUpdateIn(serializers.Serializer):
    data = serializers.JSONField()


class ItemsDeleteIn(serializers.Serializer):
    item_ids = serializers.ListField(
        child=serializers.UUIDField(), min_length=1, max_length=MAX_ITEMS_PER_REQUEST
    )


class ItemsDeleteOut(serializers.Serializer):
    deleted = serializers.IntegerField()
    row_count = serializers.IntegerField()


class ImportIn(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True)
    format = serializers.ChoiceField(choices=FORMATS, required=False, allow_blank=True)


class ImportOut(serializers.Serializer):
    rows_imported = serializers.IntegerField()
    row_count = serializers.IntegerField()
    columns = ColumnOut(many=True)


class ExportQuery(serializers.Serializer):
    format = serializers.ChoiceField(choices=list(EXPORT_FORMATS), default="jsonl")
