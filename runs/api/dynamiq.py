"""``/v1/evaluations``: the Dynamiq dialect. One APIView per operation; each validates its
input, calls the service or selector the UI also uses, and shapes the answer."""

from __future__ import annotations

import orjson
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from datasets.api.pagination import page_body, paginated, read_limit
from evalsite.api import validated as _validated
from evalsite.filters import filtered_or_400
from projects.models import Role
from runs import exports, results_cache, selectors, services
from runs.api import dynamiq_serializers as s
from runs.api.lookups import (
    idempotency_key,
    project_from_request,
    request_fingerprint,
    run_for_user,
)
from runs.columns import run_columns
from runs.filtersets import RESULT_STATUS_CHOICES, STATUS_CHOICES, ResultFilterSet, RunFilterSet
from runs.models import RunTask
from runs.options import CAP_FIELDS, OPTION_FIELDS
from runs.results_table import PAGE_LIMIT_MAX, results_table_page

TAGS = ["evaluations"]
PROJECT_PARAM = OpenApiParameter("project_id", OpenApiTypes.UUID, required=True)
IDEMPOTENCY_PARAM = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Repeat a POST safely: the same key in the same project with the same body "
    "answers with the run it first started; the same key with a different body is a 422 and "
    "starts nothing.",
)
ERRORS = {
    400: OpenApiResponse(description="Invalid input: `message` and field `errors`."),
    404: OpenApiResponse(description="No such object (or not in your projects)."),
}
ResultPageOut = paginated(s.ResultRowOut, "EvaluationResultPage")


def _run_out(run) -> dict:
    return s.EvaluationOut(run).data


class EvaluationListCreateApi(APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[
            PROJECT_PARAM,
            OpenApiParameter(
                "status",
                OpenApiTypes.STR,
                enum=[value for value, _ in STATUS_CHOICES],
                description="Only runs in this status: pending, running (includes cancelling), "
                "succeeded (includes partially_succeeded), failed, canceled; or a finer "
                "`status_detail` value, or `active`. Another value is a 400.",
            ),
            OpenApiParameter("dataset_id", OpenApiTypes.UUID),
            OpenApiParameter("search", OpenApiTypes.STR, description="Text in the run name."),
        ],
        responses={200: s.EvaluationListOut, **ERRORS},
        operation_id="evaluations_list",
    )
    def get(self, request):
        project = project_from_request(request)
        filterset = RunFilterSet(request.query_params, selectors.runs_for_project(project))
        runs = filtered_or_400(filterset).select_related("star_binding__metric_version")
        return Response({"data": s.EvaluationOut(runs, many=True).data})

    @extend_schema(
        tags=TAGS,
        request=s.EvaluationCreateDoc,
        parameters=[IDEMPOTENCY_PARAM],
        responses={
            201: s.EvaluationOut,
            **ERRORS,
            422: OpenApiResponse(description="Idempotency-Key reused with a different body."),
        },
        operation_id="evaluations_create",
        description="Start a run. `config` pairs an optional workflow with the metrics that "
        "score it; omit `workflow` for a dataset-only run.",
    )
    def post(self, request):
        if not isinstance(request.data, dict):
            raise ValidationError("Send a JSON object.")
        project = project_from_request(request, role=Role.EDITOR)
        data = _validated(s.EvaluationCreateIn, request.data)
        key = idempotency_key(request)
        if data.get("dataset_id"):
            from datasets.models import DatasetVersion

            version = DatasetVersion.objects.filter(pk=data["dataset_version_id"]).first()
            if version is not None and version.dataset_id != data["dataset_id"]:
                raise ValidationError(
                    {"dataset_version_id": ["This version does not belong to dataset_id."]}
                )
        run = services.run_start(
            project=project,
            user=request.user,
            name=data["name"],
            dataset_version_id=data["dataset_version_id"],
            config=data["config"],
            star_metric=data.get("star_metric"),
            idempotency_key=key,
            options={k: request.data[k] for k in OPTION_FIELDS if k in request.data},
            idempotency_fingerprint=request_fingerprint(request) if key else "",
        )
        run = run_for_user(request, run.id)
        return Response(_run_out(run), status=status.HTTP_201_CREATED)


class EvaluationDetailApi(APIView):
    @extend_schema(
        tags=TAGS, responses={200: s.EvaluationOut, **ERRORS}, operation_id="evaluations_retrieve"
    )
    def get(self, request, evaluation_id):
        return Response(_run_out(run_for_user(request, evaluation_id)))

    @extend_schema(
        tags=TAGS,
        responses={204: None, **ERRORS},
        operation_id="evaluations_destroy",
        description="Delete the run and all its results (an active run is canceled first).",
    )
    def delete(self, request, evaluation_id):
        run = run_for_user(request, evaluation_id, role=Role.EDITOR)
        services.run_delete(run=run)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EvaluationResultsApi(APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[
            OpenApiParameter(
                "limit", OpenApiTypes.INT, description=f"1 to {PAGE_LIMIT_MAX}, default 50"
            ),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="`next_cursor` of a page."),
            OpenApiParameter(
                "sort",
                OpenApiTypes.STR,
                description="`position` (default), `score:<binding id>`, `latency` or "
                "`column:<name>`; prefix `-` for descending.",
            ),
            OpenApiParameter(
                "status",
                OpenApiTypes.STR,
                enum=[value for value, _ in RESULT_STATUS_CHOICES],
                description="`failed` (rows with a failed task) or a task status.",
            ),
            OpenApiParameter("binding", OpenApiTypes.UUID, description="A metric column."),
            OpenApiParameter("below", OpenApiTypes.NUMBER, description="Score below (exclusive)."),
            OpenApiParameter("above", OpenApiTypes.NUMBER, description="Score above (exclusive)."),
            OpenApiParameter("search", OpenApiTypes.STR, description="Text in any field."),
        ],
        responses={200: ResultPageOut, **ERRORS},
        operation_id="evaluations_results",
        description="One row per dataset item with its fields, each agent's task and one "
        "value per metric. Cursor pagination: pass `next_cursor` back as `cursor`.",
    )
    def get(self, request, evaluation_id):
        params = request.query_params
        limit = read_limit(params.get("limit"), default=50, maximum=PAGE_LIMIT_MAX)
        run = run_for_user(request, evaluation_id)
        filterset = ResultFilterSet(params, queryset=RunTask.objects.none())
        filtered_or_400(filterset)
        cursor, sort = params.get("cursor") or None, filterset.sort_value()
        filters = filterset.table_filters()
        columns = run_columns(run)

        def build() -> bytes:
            page = results_table_page(
                run, after=cursor, limit=limit, sort=sort, filters=filters, columns=columns
            )
            data = [row.as_dict(page.columns) for row in page.rows]
            body = page_body(data, limit=limit, next_cursor=page.next_after)
            return orjson.dumps(body, default=str)

        query = (limit, cursor, sort, tuple(sorted((filters or {}).items())))
        body = results_cache.cached_page(run, "v1-results", query, columns.cache_labels(), build)
        return HttpResponse(body, content_type="application/json")


def _summary_out(summary: dict) -> dict:
    out = {k: v for k, v in summary.items() if k not in ("binding", "histogram")}
    counts = out.get("value_counts")
    if isinstance(counts, list):
        out["value_counts"] = dict(counts)
    return out


class EvaluationMetricsApi(APIView):
    @extend_schema(
        tags=TAGS,
        responses={200: s.MetricSummaryListOut, **ERRORS},
        operation_id="evaluations_metrics",
        description="Per metric: count, errors, mean, median, p10, p90, stddev, min, max, "
        "pass rate against the star threshold, and value counts for string metrics.",
    )
    def get(self, request, evaluation_id):
        run = run_for_user(request, evaluation_id)
        summaries = selectors.run_metric_summaries(run)
        return Response({"data": [_summary_out(summary) for summary in summaries]})


DOWNLOAD_BLOCK = 256 * 1024


def _in_blocks(chunks, size: int = DOWNLOAD_BLOCK):
    """Regroup a stream of small (per-row) chunks into blocks of ``size`` bytes: one socket
    write per block instead of one per row, with memory still bounded by the block size."""
    buffer, length = [], 0
    for chunk in chunks:
        buffer.append(chunk)
        length += len(chunk)
        if length >= size:
            yield b"".join(buffer)
            buffer, length = [], 0
    if buffer:
        yield b"".join(buffer)


class IgnoreFormatOverride(DefaultContentNegotiation):
    """Content negotiation without DRF's ``?format=`` renderer override: on the download,
    ``format`` names the file format (json, jsonl, csv), not a renderer."""

    def select_renderer(self, request, renderers, format_suffix=None):
        renderer = renderers[0]
        return renderer, renderer.media_type


class EvaluationDownloadApi(APIView):
    content_negotiation_class = IgnoreFormatOverride

    @extend_schema(
        tags=TAGS,
        parameters=[
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                enum=list(exports.FORMATS),
                description="File format: json (default, one document), jsonl (one result "
                "per line) or csv. Another value is a 400.",
            )
        ],
        responses={
            (200, "application/json"): OpenApiTypes.BINARY,
            409: OpenApiResponse(s.MessageOut, description="The run is still in progress."),
            **ERRORS,
        },
        operation_id="evaluations_results_download",
        description="Every result as one JSON file (`Content-Disposition: attachment`, so "
        "`curl -OJ` saves it). Refused with 409 while the run is in progress.",
    )
    def get(self, request, evaluation_id):
        fmt = request.query_params.get("format") or "json"
        if fmt not in exports.FORMATS:
            raise ValidationError({"format": [f"Use one of: {', '.join(exports.FORMATS)}."]})
        run = run_for_user(request, evaluation_id)
        response = exports.run_results_download(run, fmt=fmt)
        response.streaming_content = _in_blocks(response.streaming_content)
        return response


class EvaluationRerunApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=s.EvaluationRerunDoc,
        responses={
            202: s.EvaluationOut,
            409: OpenApiResponse(s.MessageOut, description='"No failed tasks to rerun."'),
            **ERRORS,
        },
        operation_id="evaluations_rerun",
        description="Re-execute only the failed tasks, with the pinned versions. Rows not run "
        "because a cap was reached run again; send raised caps (`max_cost`, `max_tokens`, "
        "`max_agent_calls`, `max_judge_calls`; null removes one) in the body.",
    )
    def post(self, request, evaluation_id):
        run = run_for_user(request, evaluation_id, role=Role.EDITOR)
        body = request.data if isinstance(request.data, dict) else {}
        caps = {k: body[k] for k in CAP_FIELDS if k in body}
        run = services.run_rerun(run=run, caps=caps or None)
        return Response(_run_out(run), status=status.HTTP_202_ACCEPTED)


class EvaluationCancelApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=None,
        responses={
            200: s.EvaluationOut,
            409: OpenApiResponse(s.MessageOut, description="The run already finished."),
            **ERRORS,
        },
        operation_id="evaluations_cancel",
    )
    def post(self, request, evaluation_id):
        run = run_for_user(request, evaluation_id, role=Role.EDITOR)
        run = services.run_cancel(run=run)
        return Response(_run_out(run))
