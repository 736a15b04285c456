"""``/v1/datasets``: one view per operation; each validates, calls a service or selector."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from datasets import exporting, selectors, services
from datasets.api import serializers as s
from datasets.api.pagination import (
    decode_position_cursor,
    encode_cursor,
    page_body,
    paginated,
    read_limit,
)
from datasets.filtersets import DatasetFilterSet
from datasets.models import Dataset, DatasetItem, DatasetVersion
from evalsite.api import PROJECT_ID_PARAM as PROJECT_PARAM
from evalsite.api import project_from_request as _project
from evalsite.api import validated as _validated
from evalsite.filters import filtered_or_400
from projects.access import object_for_user
from projects.models import Role

TAGS = ["datasets"]


def _dataset(request, dataset_id, *, role: str = Role.VIEWER) -> Dataset:
    return object_for_user(Dataset.objects.all(), request.user, role=role, pk=dataset_id)


def _version(request, dataset_id, version_id, *, role: str = Role.VIEWER) -> DatasetVersion:
    dataset = _dataset(request, dataset_id, role=role)
    version = get_object_or_404(
        DatasetVersion.objects.select_related("created_by", "released_by"),
        dataset=dataset,
        pk=version_id,
    )
    version.dataset = dataset
    return version


def _item(request, dataset_id, version_id, item_id) -> DatasetItem:
    version = _version(request, dataset_id, version_id, role=Role.EDITOR)
    item = get_object_or_404(DatasetItem, version=version, pk=item_id)
    item.version = version
    return item


def _dataset_out(dataset: Dataset, *, detail: bool = False) -> dict:
    annotated = selectors.datasets_for_project(dataset.project).get(pk=dataset.pk)
    if not detail:
        return s.DatasetOut(annotated).data
    annotated.version_list = list(selectors.versions_for_dataset(dataset))
    return s.DatasetDetailOut(annotated).data


class DatasetListApi(APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[
            PROJECT_PARAM,
            OpenApiParameter("search", OpenApiTypes.STR, description="Text in the name."),
            OpenApiParameter(
                "released", OpenApiTypes.BOOL, description="Only datasets with a release."
            ),
        ],
        responses=s.DatasetListOut,
        operation_id="datasets_list",
    )
    def get(self, request):
        project = _project(request)
        filterset = DatasetFilterSet(request.query_params, selectors.datasets_for_project(project))
        datasets = filtered_or_400(filterset).select_related("created_by")
        return Response({"data": s.DatasetOut(datasets, many=True).data})

    @extend_schema(
        tags=TAGS,
        parameters=[PROJECT_PARAM],
        request=s.DatasetCreateIn,
        responses={201: s.DatasetOut},
        operation_id="datasets_create",
    )
    def post(self, request):
        project = _project(request, role=Role.EDITOR)
        data = _validated(s.DatasetCreateIn, request.data)
        dataset = services.dataset_create(project=project, user=request.user, **data)
        return Response(_dataset_out(dataset), status=status.HTTP_201_CREATED)


class DatasetDetailApi(APIView):
    @extend_schema(tags=TAGS, responses=s.DatasetDetailOut, operation_id="datasets_retrieve")
    def get(self, request, dataset_id):
        dataset = _dataset(request, dataset_id)
        return Response(_dataset_out(dataset, detail=True))

    @extend_schema(tags=TAGS, responses={204: None}, operation_id="datasets_destroy")
    def delete(self, request, dataset_id):
        dataset = _dataset(request, dataset_id, role=Role.EDITOR)
        services.dataset_delete(dataset=dataset)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VersionListApi(APIView):
    @extend_schema(tags=TAGS, responses=s.VersionListOut, operation_id="dataset_versions_list")
    def get(self, request, dataset_id):
        dataset = _dataset(request, dataset_id)
        versions = selectors.versions_for_dataset(dataset)
        return Response({"data": s.VersionOut(versions, many=True).data})

    @extend_schema(
        tags=TAGS,
        request=s.VersionCreateIn,
        responses={201: s.VersionOut},
        operation_id="dataset_versions_create",
    )
    def post(self, request, dataset_id):
        dataset = _dataset(request, dataset_id, role=Role.EDITOR)
        data = _validated(s.VersionCreateIn, request.data)
        source = None
        if data["from_version_id"]:
            source = DatasetVersion.objects.filter(pk=data["from_version_id"]).first()
            if source is None or source.dataset_id != dataset.pk:
                raise ValidationError({"from_version_id": ["No such version in this dataset."]})
        version = services.version_create_draft(
            dataset=dataset, from_version=source, user=request.user
        )
        return Response(s.VersionOut(version).data, status=status.HTTP_201_CREATED)


class VersionDetailApi(APIView):
    @extend_schema(tags=TAGS, responses=s.VersionOut, operation_id="dataset_versions_retrieve")
    def get(self, request, dataset_id, version_id):
        version = _version(request, dataset_id, version_id)
        return Response(s.VersionOut(version).data)

    @extend_schema(tags=TAGS, responses={204: None}, operation_id="dataset_versions_destroy")
    def delete(self, request, dataset_id, version_id):
        version = _version(request, dataset_id, version_id, role=Role.EDITOR)
        services.version_delete(version=version)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VersionReleaseApi(APIView):
    @extend_schema(
        tags=TAGS, request=None, responses=s.VersionOut, operation_id="dataset_versions_release"
    )
    def post(self, request, dataset_id, version_id):
        version = _version(request, dataset_id, version_id, role=Role.EDITOR)
        version = services.version_release(version=version, user=request.user)
        return Response(s.VersionOut(version).data)


ItemPageOut = paginated(s.ItemOut, "DatasetItemPage")


class ItemListApi(APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[
            OpenApiParameter("limit", OpenApiTypes.INT, description="1 to 1000, default 100"),
            OpenApiParameter("cursor", OpenApiTypes.STR),
            OpenApiParameter("search", OpenApiTypes.STR, description="text in any field"),
        ],
        responses=ItemPageOut,
        operation_id="dataset_items_list",
    )
    def get(self, request, dataset_id, version_id):
        version = _version(request, dataset_id, version_id)
        limit = read_limit(request.query_params.get("limit"))
        after = None
        if request.query_params.get("cursor"):
            after = decode_position_cursor(request.query_params["cursor"])
        page = selectors.items_page(
            version, after=after, limit=limit, search=request.query_params.get("search", "")
        )
        cursor = encode_cursor({"after": page.next_after}) if page.has_more else None
        data = s.ItemOut(page.items, many=True).data
        return Response(page_body(data, limit=limit, next_cursor=cursor))

    @extend_schema(
        tags=TAGS,
        request=s.ItemsAddIn,
        responses={201: s.ItemsAddOut},
        operation_id="dataset_items_create",
    )
    def post(self, request, dataset_id, version_id):
        version = _version(request, dataset_id, version_id, role=Role.EDITOR)
        data = _validated(s.ItemsAddIn, request.data)
        added = services.items_add(version=version, rows=data["items"])
        version.refresh_from_db(fields=["row_count"])
        return Response(
            {"added": added, "row_count": version.row_count}, status=status.HTTP_201_CREATED
        )


class ItemsBulkDeleteApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=s.ItemsDeleteIn,
        responses=s.ItemsDeleteOut,
        operation_id="dataset_items_bulk_delete",
    )
    def post(self, request, dataset_id, version_id):
        version = _version(request, dataset_id, version_id, role=Role.EDITOR)
        data = _validated(s.ItemsDeleteIn, request.data)
        deleted = services.items_delete(version=version, item_ids=data["item_ids"])
        version.refresh_from_db(fields=["row_count"])
        return Response({"deleted": deleted, "row_count": version.row_count})


class ItemDetailApi(APIView):
    @extend_schema(
        tags=TAGS, request=s.ItemUpdateIn, responses=s.ItemOut, operation_id="dataset_items_update"
    )
    def patch(self, request, dataset_id, version_id, item_id):
        item = _item(request, dataset_id, version_id, item_id)
        data = _validated(s.ItemUpdateIn, request.data)
        item = services.item_update(item=item, data=data["data"])
        return Response(s.ItemOut(item).data)

    @extend_schema(tags=TAGS, responses={204: None}, operation_id="dataset_items_destroy")
    def delete(self, request, dataset_id, version_id, item_id):
        item = _item(request, dataset_id, version_id, item_id)
        services.item_delete(item=item)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VersionImportApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        tags=TAGS,
        request={"multipart/form-data": s.ImportIn},
        responses={201: s.ImportOut},
        operation_id="dataset_versions_import",
    )
    def post(self, request, dataset_id, version_id):
        version = _version(request, dataset_id, version_id, role=Role.EDITOR)
        data = _validated(s.ImportIn, request.data)
        upload = data["file"]
        report = services.version_import(
            version=version,
            stream=upload,
            filename=upload.name or "",
            fmt=data.get("format") or "",
            size=upload.size,
        )
        return Response(s.ImportOut(report).data, status=status.HTTP_201_CREATED)


class VersionExportApi(APIView):
    def perform_content_negotiation(self, request, force=False):
        # ``format`` names the export format here, not one of DRF's renderers.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        tags=TAGS,
        parameters=[OpenApiParameter("format", OpenApiTypes.STR, enum=["csv", "json", "jsonl"])],
        responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY)},
        operation_id="dataset_versions_export",
    )
    def get(self, request, dataset_id, version_id):
        version = _version(request, dataset_id, version_id)
        fmt = exporting.check_format(request.query_params.get("format", "jsonl"))
        return exporting.export_response(version, fmt)
