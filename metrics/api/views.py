"""``/v1/metrics`` and ``/v2/gen-ai/evaluation_metrics``: validate, call a service or a
selector, answer. The same services back the METRICS tab."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import Throttled
from rest_framework.response import Response
from rest_framework.views import APIView

from evalsite.api import PROJECT_ID_PARAM as PROJECT_PARAM
from evalsite.api import project_from_request as _project
from evalsite.api import validated as _validated
from evalsite.filters import filtered_or_400
from evalsite.outbound.interactive import TryRateLimited
from metrics import selectors, services
from metrics.api import serializers as s
from metrics.api.gradient import metric_dict
from metrics.filtersets import MetricFilterSet
from metrics.models import MetricCategory, MetricType
from projects.models import Role

TAGS = ["metrics"]


def _metric_out(metric) -> dict:
    return s.MetricOut(metric).data


class MetricListApi(APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[
            PROJECT_PARAM,
            OpenApiParameter("search", OpenApiTypes.STR, description="Text in name/description."),
            OpenApiParameter("category", OpenApiTypes.STR, enum=list(MetricCategory.values)),
            OpenApiParameter("metric_type", OpenApiTypes.STR, enum=list(MetricType.values)),
            OpenApiParameter("origin", OpenApiTypes.STR, enum=["builtin", "project"]),
        ],
        responses=s.MetricListOut,
        operation_id="metrics_list",
    )
    def get(self, request):
        project = _project(request)
        filterset = MetricFilterSet(request.query_params, selectors.metrics_for_project(project))
        metrics = list(filtered_or_400(filterset))
        latest = selectors.latest_versions(m.pk for m in metrics)
        data = s.MetricOut(metrics, many=True, context={"latest": latest}).data
        return Response({"data": data})

    @extend_schema(
        tags=TAGS,
        parameters=[PROJECT_PARAM],
        request=s.MetricCreateIn,
        responses={201: s.MetricOut},
        operation_id="metrics_create",
    )
    def post(self, request):
        project = _project(request, role=Role.EDITOR)
        data = _validated(s.MetricCreateIn, request.data)
        data.pop("project_id", None)
        metric = services.metric_create(project=project, user=request.user, **data)
        return Response(_metric_out(metric), status=status.HTTP_201_CREATED)


class MetricDetailApi(APIView):
    @extend_schema(tags=TAGS, responses=s.MetricOut, operation_id="metrics_retrieve")
    def get(self, request, metric_id):
        metric = selectors.metric_for_user(request.user, metric_id)
        return Response(_metric_out(metric))

    @extend_schema(tags=TAGS, responses={204: None}, operation_id="metrics_destroy")
    def delete(self, request, metric_id):
        metric = selectors.metric_for_user(request.user, metric_id, role=Role.EDITOR)
        services.metric_delete(metric=metric, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MetricVersionListApi(APIView):
    @extend_schema(tags=TAGS, responses=s.MetricVersionListOut, operation_id="metric_versions_list")
    def get(self, request, metric_id):
        metric = selectors.metric_for_user(request.user, metric_id)
        versions = selectors.versions_for_metric(metric)
        return Response({"data": s.MetricVersionOut(versions, many=True).data})

    @extend_schema(
        tags=TAGS,
        request=s.MetricVersionCreateIn,
        responses={201: s.MetricVersionOut},
        operation_id="metric_versions_create",
    )
    def post(self, request, metric_id):
        metric = selectors.metric_for_user(request.user, metric_id, role=Role.EDITOR)
        data = _validated(s.MetricVersionCreateIn, request.data)
        version = services.metric_version_create(metric=metric, user=request.user, **data)
        return Response(s.MetricVersionOut(version).data, status=status.HTTP_201_CREATED)


class MetricVersionDetailApi(APIView):
    @extend_schema(tags=TAGS, responses=s.MetricVersionOut, operation_id="metric_versions_retrieve")
    def get(self, request, metric_id, version_id):
        metric = selectors.metric_for_user(request.user, metric_id)
        version = selectors.version_for_metric(metric, version_id)
        return Response(s.MetricVersionOut(version).data)


class MetricVersionTryApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=s.MetricTryIn,
        responses=s.MetricTryOut,
        operation_id="metric_versions_try",
    )
    def post(self, request, metric_id, version_id):
        metric = selectors.metric_for_try(request.user, metric_id)
        version = selectors.version_for_metric(metric, version_id)
        data = _validated(s.MetricTryIn, request.data)
        try:
            outcome = services.metric_try(version=version, inputs=data["inputs"], user=request.user)
        except TryRateLimited as exc:
            raise Throttled(wait=exc.wait_s, detail=exc.message) from None
        body = {
            "metric_name": metric.name,
            "metric_value_type": metric.value_type,
            **outcome.as_dict(),
        }
        return Response(s.MetricTryOut(body).data)


class GradientMetricListApi(APIView):
    """``GET /v2/gen-ai/evaluation_metrics``: the catalogue as ``APIEvaluationMetric``s."""

    @extend_schema(
        tags=["gradient"], responses=OpenApiTypes.OBJECT, operation_id="gradient_metrics"
    )
    def get(self, request):
        metrics = selectors.metrics_for_user(request.user)
        return Response({"metrics": [metric_dict(m) for m in metrics]})
