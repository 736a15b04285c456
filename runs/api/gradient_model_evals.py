"""``/v2/gen-ai/model_evaluation_*``: Gradient's model evaluations, so that pydo's eleven
model evaluation methods work against this server (``runs.model_evaluations`` says what a
candidate model, a judge and a preset are here).

One APIView per operation: each validates, calls a service or selector shared with the rest
of the server, and shapes the answer (``gradient_model_eval_shapes``).
"""

from __future__ import annotations

import math
import zlib
from datetime import timedelta
from urllib.parse import urlencode

from django.core import signing
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from evalsite.api import validated
from evalsite.errors import ConflictError
from metrics.models import Metric
from projects.access import object_for_user, project_for_user
from projects.models import Role
from runs import exports
from runs import model_evaluations as model_evals
from runs.api import gradient_model_eval_shapes as shapes
from runs.api.dynamiq import IgnoreFormatOverride
from runs.api.gradient_datasets import PresignApi, PresignIn
from runs.models import EvaluationRun, ModelEvaluationPreset, ModelEvaluationRun

RUN_TAGS = ["gradient: model evaluation runs"]
PRESET_TAGS = ["gradient: model evaluation presets"]
DOWNLOAD_SALT = "evalsite.gradient.model-evaluation-results"
URL_SECONDS = 3600
DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 1000
RUN_UUID = OpenApiParameter(
    "eval_run_uuid", OpenApiTypes.STR, OpenApiParameter.PATH, description="Run UUID."
)
PRESET_UUID = OpenApiParameter(
    "eval_preset_uuid", OpenApiTypes.STR, OpenApiParameter.PATH, description="Preset UUID."
)
SORT_FIELDS = (
    "MODEL_EVALUATION_RUN_SORT_FIELD_UNSPECIFIED",
    "MODEL_EVALUATION_RUN_SORT_FIELD_CREATED_AT",
    "MODEL_EVALUATION_RUN_SORT_FIELD_STATUS",
)
SORT_DIRECTIONS = ("SORT_DIRECTION_UNSPECIFIED", "SORT_DIRECTION_ASC", "SORT_DIRECTION_DESC")


def _iso(value) -> str:
    return value.isoformat().replace("+00:00", "Z")


def model_run_for_user(request, eval_run_uuid, *, role: str = Role.VIEWER) -> ModelEvaluationRun:
    """The model evaluation run (404 for another project's, an agent run, or a bad id)."""
    run = object_for_user(
        EvaluationRun.objects.select_related(
            "dataset_version__dataset", "star_binding__metric_version"
        ),
        request.user,
        role=role,
        pk=eval_run_uuid,
    )
    model_run = (
        ModelEvaluationRun.objects.select_related("candidate_workflow", "judge_metric", "preset")
        .filter(pk=run.pk)
        .first()
    )
    if model_run is None:
        raise Http404("No such model evaluation run.")
    model_run.run = run
    return model_run


def _page_links(request, page: int, pages: int, per_page: int, extra=None) -> dict:
    def url(number: int) -> str:
        query = urlencode({**(extra or {}), "page": number, "per_page": per_page}, doseq=True)
        return request.build_absolute_uri(f"{request.path}?{query}")

    links = {"first": url(1), "last": url(pages)}
    if page < pages:
        links["next"] = url(page + 1)
    if page > 1:
        links["previous"] = url(min(page - 1, pages))
    return {"pages": links}


# --- serializers ---------------------------------------------------------------------------


class ModelInferenceConfigIn(serializers.Serializer):
    max_tokens = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=1_000_000
    )
    reasoning_effort = serializers.CharField(required=False, allow_blank=True, max_length=20)
    stop_token = serializers.CharField(
        required=False, allow_blank=True, max_length=200, trim_whitespace=False
    )
    system_prompt = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=model_evals.MAX_SYSTEM_PROMPT,
        trim_whitespace=False,
    )
    temperature = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=2)


class ModelStarMetricIn(serializers.Serializer):
    metric_uuid = serializers.CharField(required=False, allow_blank=True, max_length=64)
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    success_threshold = serializers.FloatField(required=False, allow_null=True)
    success_threshold_pct = serializers.FloatField(
        required=False, allow_null=True, min_value=0, max_value=100
    )


class ModelRunCreateIn(serializers.Serializer):
    candidate_inference_config = ModelInferenceConfigIn(required=False)
    candidate_model_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    candidate_model_source = serializers.ChoiceField(choices=model_evals.SOURCES, required=False)
    candidate_model_uuid = serializers.CharField(required=False, allow_blank=True, max_length=64)
    dataset_uuid = serializers.CharField(required=False, allow_blank=True, max_length=64)
    epochs = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=model_evals.MAX_EPOCHS
    )
    eval_preset_uuid = serializers.CharField(required=False, allow_blank=True, max_length=64)
    judge_model_uuid = serializers.CharField(required=False, allow_blank=True, max_length=64)
    metric_uuids = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        max_length=model_evals.MAX_METRICS,
    )
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    preset_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    preset_save_sections = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=10
    )
    save_as_preset = serializers.BooleanField(required=False)
    source = serializers.CharField(required=False, allow_blank=True, max_length=20)
    star_metric = ModelStarMetricIn(required=False, allow_null=True)
    workspace_uuid = serializers.UUIDField(
        required=False, help_text="Extension: the project (default: the candidate's)."
    )


class ModelRunUpdateIn(serializers.Serializer):
    eval_run_uuid = serializers.CharField(required=False, allow_blank=True, max_length=64)
    name = serializers.CharField(max_length=255)


class ModelRunCancelIn(serializers.Serializer):
    eval_run_uuid = serializers.CharField(required=False, allow_blank=True, max_length=64)


class ModelRunListQuery(serializers.Serializer):
    eval_preset_uuid = serializers.UUIDField(required=False)
    status = serializers.ChoiceField(choices=shapes.STATUSES, required=False)
    statuses = serializers.ListField(
        child=serializers.ChoiceField(choices=shapes.STATUSES), required=False
    )
    candidate_types = serializers.ListField(
        child=serializers.ChoiceField(choices=model_evals.SOURCES), required=False
    )
    search = serializers.CharField(required=False, allow_blank=True, max_length=200)
    sort_by = serializers.ChoiceField(choices=SORT_FIELDS, required=False)
    sort_direction = serializers.ChoiceField(choices=SORT_DIRECTIONS, required=False)
    page = serializers.IntegerField(required=False, min_value=1, default=1)
    per_page = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_PER_PAGE, default=DEFAULT_PER_PAGE
    )


class PageQuery(serializers.Serializer):
    page = serializers.IntegerField(required=False, min_value=1, default=1)
    per_page = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_PER_PAGE, default=DEFAULT_PER_PAGE
    )


def _list_query(request) -> dict:
    """The list's query parameters; the list ones repeat (``statuses=A&statuses=B``)."""
    data = {key: request.query_params.get(key) for key in request.query_params}
    for key in ("statuses", "candidate_types"):
        if key in request.query_params:
            # pydo joins a list with commas (statuses=A,B); repeating the key works too.
            values = request.query_params.getlist(key)
            data[key] = [v.strip() for value in values for v in value.split(",") if v.strip()]
    return validated(ModelRunListQuery, data)


# --- metrics and presets -------------------------------------------------------------------


class ModelMetricListApi(APIView):
    @extend_schema(
        tags=RUN_TAGS,
        responses=OpenApiTypes.OBJECT,
        operation_id="gradient_model_evaluation_metrics_list",
        description="The metrics a model evaluation run can use (span-level ones excepted), "
        "each with the presets of yours that use it.",
    )
    def get(self, request):
        metrics = model_evals.model_metrics_for_user(request.user)
        using = model_evals.presets_using(request.user, [str(m.id) for m in metrics])
        return Response(
            {"metrics": [shapes.model_metric_dict(m, using.get(str(m.id))) for m in metrics]}
        )


def _metrics_by_id(presets) -> dict:
    ids = {str(m) for p in presets for m in p.metrics or []}
    return {str(m.id): m for m in Metric.objects.filter(id__in=list(ids))}


class PresetListApi(APIView):
    @extend_schema(
        tags=PRESET_TAGS,
        responses=OpenApiTypes.OBJECT,
        operation_id="gradient_model_evaluation_presets_list",
    )
    def get(self, request):
        presets = list(model_evals.presets_for_user(request.user))
        metrics = _metrics_by_id(presets)
        return Response({"presets": [shapes.preset_dict(p, metrics) for p in presets]})


class PresetDetailApi(APIView):
    def _preset(self, request, eval_preset_uuid, role=Role.VIEWER) -> ModelEvaluationPreset:
        return object_for_user(
            ModelEvaluationPreset.objects.select_related(
                "candidate_workflow", "dataset", "judge_metric"
            ),
            request.user,
            role=role,
            pk=eval_preset_uuid,
        )

    @extend_schema(
        tags=PRESET_TAGS,
        parameters=[PRESET_UUID],
        responses=OpenApiTypes.OBJECT,
        operation_id="gradient_model_evaluation_presets_retrieve",
    )
    def get(self, request, eval_preset_uuid):
        preset = self._preset(request, eval_preset_uuid)
        return Response({"preset": shapes.preset_dict(preset, _metrics_by_id([preset]))})

    @extend_schema(
        tags=PRESET_TAGS,
        parameters=[PRESET_UUID],
        responses=OpenApiTypes.OBJECT,
        operation_id="gradient_model_evaluation_presets_delete",
        description="Runs that used the preset keep their results.",
    )
    def delete(self, request, eval_preset_uuid):
        preset = self._preset(request, eval_preset_uuid, role=Role.EDITOR)
        model_evals.preset_delete(preset=preset)
        return Response({})


# --- runs ----------------------------------------------------------------------------------


class ModelRunListCreateApi(APIView):
    @extend_schema(
        tags=RUN_TAGS,
        parameters=[
            OpenApiParameter("eval_preset_uuid", OpenApiTypes.UUID),
            OpenApiParameter("status", OpenApiTypes.STR, enum=list(shapes.STATUSES)),
            OpenApiParameter(
                "statuses", {"type": "array", "items": {"type": "string"}}, explode=True
            ),
            OpenApiParameter(
                "candidate_types", {"type": "array", "items": {"type": "string"}}, explode=True
            ),
            OpenApiParameter("search", OpenApiTypes.STR),
            OpenApiParameter("sort_by", OpenApiTypes.STR, enum=list(SORT_FIELDS)),
            OpenApiParameter("sort_direction", OpenApiTypes.STR, enum=list(SORT_DIRECTIONS)),
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("per_page", OpenApiTypes.INT),
        ],
        responses=OpenApiTypes.OBJECT,
        operation_id="gradient_model_evaluation_runs_list",
    )
    def get(self, request):
        query = _list_query(request)
        found = model_evals.model_runs_for_user(request.user)
        if query.get("eval_preset_uuid"):
            found = found.filter(preset_id=query["eval_preset_uuid"])
        wanted = list(query.get("statuses") or [])
        status = query.get("status")
        if status and status != shapes.STATUSES[0]:
            wanted.append(status)
        wanted = [s for s in wanted if s != shapes.STATUSES[0]]
        if wanted:
            condition = Q()
            for value in wanted:
                run_status, phase = shapes.status_filter_values(value)
                part = Q(run__status=run_status)
                if phase is not None:
                    part &= Q(run__phase=phase)
                condition |= part
            found = found.filter(condition)
        if query.get("candidate_types"):
            found = found.filter(candidate_model_source__in=query["candidate_types"])
        search = (query.get("search") or "").strip()
        if search:
            found = found.filter(
                Q(run__name__icontains=search)
                | Q(candidate_model_name__icontains=search)
                | Q(candidate_workflow__name__icontains=search)
                | Q(run__dataset_version__dataset__name__icontains=search)
            )
        descending = query.get("sort_direction") != "SORT_DIRECTION_ASC"
        field = "run__status" if query.get("sort_by") == SORT_FIELDS[2] else "run__queued_at"
        found = found.order_by(f"-{field}" if descending else field, "-run__queued_at", "run_id")
        page, per_page = query["page"], query["per_page"]
        total = found.count()
        pages = max(1, math.ceil(total / per_page))
        rows = list(found[(page - 1) * per_page : page * per_page])
        extra = {k: v for k, v in request.query_params.lists() if k not in ("page", "per_page")}
        return Response(
            {
                "available_candidate_types": list(shapes.CANDIDATE_TYPES),
                "available_statuses": list(shapes.STATUSES[1:]),
                "links": _page_links(request, page, pages, per_page, extra),
                "meta": {"page": page, "pages": pages, "total": total},
                "runs": [shapes.run_summary_dict(r) for r in rows],
            }
        )

    @extend_schema(
        tags=RUN_TAGS,
        request=ModelRunCreateIn,
        responses=OpenApiTypes.OBJECT,
        operation_id="gradient_model_evaluation_runs_create",
        description="Evaluate a candidate model (an openai_chat workflow of the workspace) on "
        "the latest released version of a dataset; epochs are the run's repetitions (1-3).",
    )
    def post(self, request):
        data = validated(ModelRunCreateIn, request.data)
        workspace = None
        if data.get("workspace_uuid"):
            workspace = project_for_user(request.user, data["workspace_uuid"])
        model_run = model_evals.model_run_create(user=request.user, data=data, workspace=workspace)
        return Response({"eval_run_uuid": str(model_run.run_id)})


class ModelRunDetailApi(APIView):
    @extend_schema(
        tags=RUN_TAGS,
        parameters=[
            RUN_UUID,
            OpenApiParameter("page", OpenApiTypes.INT, description="Results page (from 1)."),
            OpenApiParameter("per_page", OpenApiTypes.INT, description="Rows per page (1-1000)."),
        ],
        responses=OpenApiTypes.OBJECT,
        operation_id="gradient_model_evaluation_runs_retrieve",
    )
    def get(self, request, eval_run_uuid):
        query = validated(PageQuery, request.query_params)
        model_run = model_run_for_user(request, eval_run_uuid)
        page, per_page = query["page"], query["per_page"]
        total = model_run.run.dataset_version.row_count
        pages = max(1, math.ceil(total / per_page))
        start = (page - 1) * per_page
        return Response(
            {
                "links": _page_links(request, page, pages, per_page),
                "meta": {"page": page, "pages": pages, "total": total},
                "results": shapes.row_results(model_run, start=start, stop=start + per_page),
                "run": shapes.run_detail_dict(model_run),
            }
        )

    @extend_schema(
        tags=RUN_TAGS,
        parameters=[RUN_UUID],
        request=ModelRunUpdateIn,
        responses=OpenApiTypes.OBJECT,
        operation_id="gradient_model_evaluation_runs_update",
        description="Rename the run (the only thing Gradient lets you change).",
    )
    def patch(self, request, eval_run_uuid):
        model_run = model_run_for_user(request, eval_run_uuid, role=Role.EDITOR)
        data = validated(ModelRunUpdateIn, request.data)
        _same_run(data, eval_run_uuid)
        model_evals.model_run_rename(model_run=model_run, name=data["name"])
        return Response({"run": shapes.run_summary_dict(model_run)})

    @extend_schema(
        tags=RUN_TAGS,
        parameters=[RUN_UUID],
        responses=OpenApiTypes.OBJECT,
        operation_id="gradient_model_evaluation_runs_delete",
        description="Only a finished run (cancel it first): 409 while it is in progress.",
    )
    def delete(self, request, eval_run_uuid):
        model_run = model_run_for_user(request, eval_run_uuid, role=Role.EDITOR)
        model_evals.model_run_delete(model_run=model_run)
        return Response({"status": "DELETE_MODEL_EVALUATION_RUN_STATUS_SUCCESS"})


def _same_run(data: dict, eval_run_uuid) -> None:
    if data.get("eval_run_uuid") and data["eval_run_uuid"] != str(eval_run_uuid):
        raise ValidationError({"eval_run_uuid": ["Does not match the URL."]})


class ModelRunCancelApi(APIView):
    @extend_schema(
        tags=RUN_TAGS,
        parameters=[RUN_UUID],
        request=ModelRunCancelIn,
        responses=OpenApiTypes.OBJECT,
        operation_id="gradient_model_evaluation_runs_cancel",
        description="Queued: cancelled at once; running: cancelling, then cancelled when the "
        "rows in flight have settled. 409 for a finished run.",
    )
    def put(self, request, eval_run_uuid):
        model_run = model_run_for_user(request, eval_run_uuid, role=Role.EDITOR)
        data = validated(ModelRunCancelIn, request.data or {})
        _same_run(data, eval_run_uuid)
        model_evals.model_run_cancel(model_run=model_run)
        return Response({"run": shapes.run_summary_dict(model_run)})


class ResultsDownloadUrlApi(APIView):
    @extend_schema(
        tags=RUN_TAGS,
        parameters=[RUN_UUID],
        responses=OpenApiTypes.OBJECT,
        operation_id="gradient_model_evaluation_runs_results_download_url",
        description="A signed link (valid an hour) to the run's results as gzip-compressed "
        "JSON; 409 while the run is in progress.",
    )
    def get(self, request, eval_run_uuid):
        model_run = model_run_for_user(request, eval_run_uuid)
        if not model_run.run.can_download:
            raise ConflictError(
                "The run is still in progress; its results can be downloaded once it has finished.",
                code="run_active",
            )
        token = signing.dumps({"r": str(model_run.run_id)}, salt=DOWNLOAD_SALT)
        path = reverse("gradient-model-evaluation-results-download", kwargs={"token": token})
        expires = timezone.now() + timedelta(seconds=URL_SECONDS)
        return Response(
            {"download_url": request.build_absolute_uri(path), "expires_at": _iso(expires)}
        )


def _gzip(chunks):
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: a gzip member
    for chunk in chunks:
        data = compressor.compress(chunk)
        if data:
            yield data
    yield compressor.flush()


class ResultsDownloadApi(APIView):
    """The signed link: the signature is the credential, as with a presigned URL."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    content_negotiation_class = IgnoreFormatOverride

    @extend_schema(
        tags=RUN_TAGS,
        operation_id="gradient_model_evaluation_runs_results_download",
        parameters=[OpenApiParameter("token", OpenApiTypes.STR, OpenApiParameter.PATH)],
        responses={(200, "application/gzip"): OpenApiTypes.BINARY},
    )
    def get(self, request, token):
        try:
            data = signing.loads(token, salt=DOWNLOAD_SALT, max_age=URL_SECONDS)
        except signing.BadSignature as exc:
            raise Http404("No such download (the URL is unknown or has expired).") from exc
        run = (
            EvaluationRun.objects.filter(pk=data.get("r"), model_evaluation__isnull=False)
            .select_related("dataset_version")
            .first()
        )
        if run is None:
            raise Http404("No such model evaluation run.")
        plain = exports.run_results_download(run, fmt="json")
        response = StreamingHttpResponse(
            _gzip(plain.streaming_content), content_type="application/gzip"
        )
        filename = f"{slugify(run.name) or 'run'}-results.json.gz"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["X-Content-Type-Options"] = "nosniff"
        return response


class ModelDatasetPresignApi(PresignApi):
    """``model_evaluation/datasets/file_upload_presigned_urls``: the same upload as the
    evaluation datasets' (a model evaluation runs on an evaluation dataset)."""

    @extend_schema(
        tags=RUN_TAGS,
        operation_id="gradient_model_evaluation_datasets_presigned_urls",
        request=PresignIn,
        responses=OpenApiTypes.OBJECT,
        description="Upload URLs on this server: PUT the file there, then name it with "
        "create_evaluation_dataset.",
    )
    def post(self, request):
        return super().post(request)
