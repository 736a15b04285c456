"""``/v2/gen-ai/evaluation_datasets``: Gradient's evaluation datasets, which are our datasets
(their latest released version), so pydo's dataset methods work against this server.

Gradient uploads a file in three steps, and so does this server:

1. ``POST evaluation_datasets/file_upload_presigned_urls`` answers, per file, an
   ``object_key`` and a ``presigned_url`` on this server (signed, valid for an hour; the
   signature is the credential, as with a real presigned URL);
2. the client ``PUT``s the CSV / JSON / JSONL file to ``presigned_url``: its rows are imported
   into a draft (all or nothing, with the dataset import's limits and row checks);
3. ``POST evaluation_datasets`` with ``file_upload_dataset.stored_object_key`` names the
   dataset and releases version 1.

The workspace (project) is the one named by the extension field ``workspace_uuid`` in step 1,
or the caller's only project where they are an editor. ``download_url`` answers a signed
link to the latest released version as CSV.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import PurePosixPath

from django.contrib.auth import get_user_model
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from datasets import services as dataset_services
from datasets.exporting import export_response
from datasets.models import Dataset, DatasetVersion, VersionStatus
from evalsite.api import validated
from projects.access import can, object_for_user, project_for_user, projects_for_user
from projects.models import Role
from runs.api.gradient_shapes import compact
from runs.mapping import suggest_column

TAGS = ["gradient: evaluation datasets"]
UPLOAD_SALT = "evalsite.gradient.evaluation-dataset-upload"
DOWNLOAD_SALT = "evalsite.gradient.evaluation-dataset-download"
URL_SECONDS = 3600
KEY_SECONDS = 7 * 24 * 3600  # how long an uploaded draft can still be created
PENDING_PREFIX = "Upload "
MAX_FILES = 10


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _upload_project(user, workspace_uuid):
    if workspace_uuid:
        return project_for_user(user, workspace_uuid, role=Role.EDITOR)
    editable = [p for p in projects_for_user(user) if can(user, p, Role.EDITOR)]
    if len(editable) != 1:
        raise ValidationError(
            {
                "workspace_uuid": [
                    "Name the workspace (project) to upload into: you edit "
                    f"{len(editable)} projects."
                ]
            }
        )
    return editable[0]


def _latest_released(dataset: Dataset) -> DatasetVersion | None:
    return dataset.versions.filter(status=VersionStatus.RELEASED).order_by("-number").first()


def evaluation_dataset_dict(dataset: Dataset, version: DatasetVersion | None) -> dict:
    columns = version.column_names() if version is not None else []
    return compact(
        {
            "created_at": _iso(dataset.created_at),
            "dataset_name": dataset.name,
            "dataset_paradigm": "EVALUATION_DATASET_PARADIGM_SINGLE_TURN",
            "dataset_type": "EVALUATION_DATASET_TYPE_AGENT",
            "dataset_uuid": str(dataset.id),
            "file_size": "0",
            "has_ground_truth": suggest_column(columns, "expected") is not None,
            "row_count": version.row_count if version is not None else 0,
        }
    )


class FileIn(serializers.Serializer):
    file_name = serializers.CharField(max_length=255)
    file_size = serializers.CharField(required=False, allow_blank=True, max_length=20)


class PresignIn(serializers.Serializer):
    files = FileIn(many=True, allow_empty=False, max_length=MAX_FILES)
    workspace_uuid = serializers.UUIDField(
        required=False, help_text="Extension: the project to upload into."
    )


class FileUploadIn(serializers.Serializer):
    original_file_name = serializers.CharField(required=False, allow_blank=True, max_length=255)
    size_in_bytes = serializers.CharField(required=False, allow_blank=True, max_length=20)
    stored_object_key = serializers.CharField(max_length=2000)


class EvaluationDatasetCreateIn(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    file_upload_dataset = FileUploadIn()
    dataset_type = serializers.CharField(required=False, max_length=64)
    dataset_paradigm = serializers.CharField(required=False, max_length=64)


class DatasetListQuery(serializers.Serializer):
    has_ground_truth = serializers.BooleanField(required=False, allow_null=True, default=None)
    dataset_type = serializers.CharField(required=False, max_length=64)
    dataset_paradigm = serializers.CharField(required=False, max_length=64)


class EvaluationDatasetListApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="gradient_evaluation_datasets_list",
        parameters=[OpenApiParameter("has_ground_truth", OpenApiTypes.BOOL)],
        responses=OpenApiTypes.OBJECT,
        description="Datasets with a released version in your projects.",
    )
    def get(self, request):
        query = validated(DatasetListQuery, request.query_params)
        datasets = (
            Dataset.objects.filter(project__in=projects_for_user(request.user))
            .filter(versions__status=VersionStatus.RELEASED)
            .distinct()
            .order_by("name", "id")
        )
        found = []
        for dataset in datasets:
            body = evaluation_dataset_dict(dataset, _latest_released(dataset))
            wanted = query.get("has_ground_truth")
            if wanted is None or body["has_ground_truth"] is wanted:
                found.append(body)
        return Response({"evaluation_datasets": found})

    @extend_schema(
        tags=TAGS,
        operation_id="gradient_evaluation_datasets_create",
        request=EvaluationDatasetCreateIn,
        responses=OpenApiTypes.OBJECT,
        description="Name an uploaded file's dataset and release its version 1.",
    )
    def post(self, request):
        data = validated(EvaluationDatasetCreateIn, request.data)
        upload = data["file_upload_dataset"]
        try:
            token = signing.loads(
                upload["stored_object_key"], salt=UPLOAD_SALT, max_age=KEY_SECONDS
            )
        except signing.BadSignature as exc:
            raise ValidationError(
                {"file_upload_dataset.stored_object_key": ["Unknown or expired object key."]}
            ) from exc
        project = project_for_user(request.user, token["p"], role=Role.EDITOR)
        dataset = Dataset.objects.filter(project=project, name=PENDING_PREFIX + token["k"]).first()
        if dataset is None:
            raise ValidationError(
                {
                    "file_upload_dataset.stored_object_key": [
                        "Nothing was uploaded to this key (PUT the file to its presigned_url)."
                    ]
                }
            )
        name = (data.get("name") or "").strip() or PurePosixPath(token["n"]).stem or "Dataset"
        with transaction.atomic():
            if Dataset.objects.filter(project=project, name=name).exists():
                raise ValidationError(
                    {"name": [f"This workspace already has a dataset named {name}."]}
                )
            Dataset.objects.filter(pk=dataset.pk).update(name=name, description="")
            draft = dataset.versions.get(status=VersionStatus.DRAFT)
            dataset_services.version_release(version=draft, user=request.user)
        return Response({"evaluation_dataset_uuid": str(dataset.id)})


class PresignApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="gradient_evaluation_datasets_presigned_urls",
        request=PresignIn,
        responses=OpenApiTypes.OBJECT,
        description="Upload URLs on this server (PUT the file there, then create the dataset).",
    )
    def post(self, request):
        data = validated(PresignIn, request.data)
        project = _upload_project(request.user, data.get("workspace_uuid"))
        expires = timezone.now() + timedelta(seconds=URL_SECONDS)
        uploads = []
        for item in data["files"]:
            key = signing.dumps(
                {
                    "k": uuid.uuid4().hex,
                    "p": str(project.id),
                    "u": request.user.pk,
                    "n": item["file_name"],
                },
                salt=UPLOAD_SALT,
            )
            path = reverse("gradient-dataset-upload", kwargs={"object_key": key})
            uploads.append(
                {
                    "expires_at": _iso(expires),
                    "object_key": key,
                    "original_file_name": item["file_name"],
                    "presigned_url": request.build_absolute_uri(path),
                }
            )
        return Response({"request_id": request._request.request_id, "uploads": uploads})


class RawParser(BaseParser):
    """The uploaded file as a stream, whatever its content type."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream


class UploadApi(APIView):
    """``PUT`` the file to its presigned URL: the signature is the credential."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes = [RawParser]

    @extend_schema(
        tags=TAGS,
        operation_id="gradient_evaluation_datasets_upload",
        request={"application/octet-stream": OpenApiTypes.BINARY},
        responses=OpenApiTypes.OBJECT,
    )
    def put(self, request, object_key):
        try:
            token = signing.loads(object_key, salt=UPLOAD_SALT, max_age=URL_SECONDS)
        except signing.BadSignature as exc:
            raise Http404("No such upload (the URL is unknown or has expired).") from exc
        user = get_user_model().objects.filter(pk=token["u"], is_active=True).first()
        if user is None:
            raise Http404("No such upload.")
        project = project_for_user(user, token["p"], role=Role.EDITOR)
        name = PENDING_PREFIX + token["k"]
        with transaction.atomic():
            if Dataset.objects.filter(project=project, name=name).exists():
                raise ValidationError({"object_key": ["A file was already uploaded here."]})
            dataset = dataset_services.dataset_create(
                project=project,
                name=name,
                description=f"Uploaded {token['n']} (evaluation_datasets API), not created yet.",
                user=user,
            )
            draft = dataset_services.version_create_draft(dataset=dataset, user=user)
            report = dataset_services.version_import(
                version=draft, stream=request.stream, filename=token["n"]
            )
        return Response({"row_count": report.row_count, "columns": report.columns})


class EvaluationDatasetDetailApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="gradient_evaluation_datasets_delete",
        responses=OpenApiTypes.OBJECT,
    )
    def delete(self, request, dataset_uuid):
        dataset = object_for_user(
            Dataset.objects.all(), request.user, role=Role.EDITOR, pk=dataset_uuid
        )
        dataset_services.dataset_delete(dataset=dataset)
        return Response({})


class DownloadUrlApi(APIView):
    @extend_schema(
        tags=TAGS,
        operation_id="gradient_evaluation_datasets_download_url",
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request, dataset_uuid):
        dataset = object_for_user(Dataset.objects.all(), request.user, pk=dataset_uuid)
        version = _latest_released(dataset)
        if version is None:
            raise Http404("No such dataset version (nothing released yet).")
        token = signing.dumps({"v": str(version.id)}, salt=DOWNLOAD_SALT)
        path = reverse("gradient-dataset-download", kwargs={"token": token})
        expires = timezone.now() + timedelta(seconds=URL_SECONDS)
        return Response(
            {"download_url": request.build_absolute_uri(path), "expires_at": _iso(expires)}
        )


class DownloadApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=TAGS,
        operation_id="gradient_evaluation_datasets_download",
        responses={(200, "text/csv"): OpenApiTypes.BINARY},
    )
    def get(self, request, token):
        try:
            data = signing.loads(token, salt=DOWNLOAD_SALT, max_age=URL_SECONDS)
        except signing.BadSignature as exc:
            raise Http404("No such download (the URL is unknown or has expired).") from exc
        version = DatasetVersion.objects.filter(pk=data["v"]).select_related("dataset").first()
        if version is None:
            raise Http404("No such dataset version.")
        return export_response(version, "csv")
