"""``/v1/monitors``: create, list, read, change and delete monitors (continuous evaluation).
Each view reads the request and calls ``traces.monitors``, the same service as the UI."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from evalsite.api import PROJECT_ID_PARAM
from evalsite.api import project_from_request as _project
from evalsite.api import validated as _validated
from projects.access import object_for_user
from projects.models import Role
from runs.models import EvaluationRun
from traces import monitors
from traces.models import Monitor, MonitorAlert, MonitorRun

TAGS = ["monitors"]


class MonitorIn(serializers.Serializer):
    """Loose on purpose: ``traces.monitors.monitor_save`` checks every field (one set of
    rules and messages for the UI and the API)."""

    project_id = serializers.UUIDField(required=False)
    name = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    dataset_id = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    metrics = serializers.JSONField(
        required=False, help_text="Metric bindings, as in a /v1 run config's metrics list."
    )
    star_metric_id = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    star_threshold = serializers.JSONField(required=False, allow_null=True)
    interval_minutes = serializers.JSONField(required=False)
    period = serializers.CharField(required=False)
    settle_seconds = serializers.JSONField(required=False)
    is_active = serializers.BooleanField(required=False)
    score_existing = serializers.BooleanField(
        required=False, help_text="On create: also score the traces already in the dataset."
    )


class MonitorAlertOut(serializers.ModelSerializer):
    class Meta:
        model = MonitorAlert
        fields = [
            "id",
            "run_id",
            "run_name",
            "metric_name",
            "mean",
            "threshold",
            "scored_rows",
            "message",
            "webhook_event_id",
            "created_at",
        ]


class MonitorOut(serializers.ModelSerializer):
    project_id = serializers.UUIDField()
    dataset_id = serializers.UUIDField()

    class Meta:
        model = Monitor
        fields = [
            "id",
            "project_id",
            "name",
            "dataset_id",
            "metrics",
            "star_metric_id",
            "star_threshold",
            "interval_minutes",
            "period",
            "settle_seconds",
            "is_active",
            "scores_from",
            "watermark",
            "next_tick_at",
            "last_tick_at",
            "last_error",
            "created_at",
            "updated_at",
        ]


class MonitorRunOut(serializers.Serializer):
    period_start = serializers.DateTimeField()
    run_id = serializers.UUIDField()
    name = serializers.CharField()
    status = serializers.CharField()
    total_tasks = serializers.IntegerField()
    pass_status = serializers.BooleanField(allow_null=True)


class MonitorDetailOut(MonitorOut):
    runs = serializers.SerializerMethodField()
    alerts = serializers.SerializerMethodField()

    class Meta(MonitorOut.Meta):
        fields = [*MonitorOut.Meta.fields, "runs", "alerts"]

    def get_runs(self, monitor) -> list[dict]:
        links = list(MonitorRun.objects.filter(monitor=monitor).order_by("-period_start")[:50])
        runs = EvaluationRun.objects.in_bulk([link.run_id for link in links])
        return [
            MonitorRunOut(
                {
                    "period_start": link.period_start,
                    "run_id": link.run_id,
                    "name": runs[link.run_id].name,
                    "status": runs[link.run_id].status,
                    "total_tasks": runs[link.run_id].total_tasks,
                    "pass_status": runs[link.run_id].pass_status,
                }
            ).data
            for link in links
            if link.run_id in runs
        ]

    def get_alerts(self, monitor) -> list[dict]:
        return MonitorAlertOut(MonitorAlert.objects.filter(monitor=monitor)[:50], many=True).data


class MonitorListOut(serializers.Serializer):
    data = MonitorOut(many=True)


def _monitor(request, monitor_id, *, role=Role.VIEWER) -> Monitor:
    return object_for_user(Monitor.objects.all(), request.user, role=role, pk=monitor_id)


def _current(monitor: Monitor) -> dict:
    return {
        "name": monitor.name,
        "dataset_id": str(monitor.dataset_id),
        "metrics": monitor.metrics,
        "star_metric_id": str(monitor.star_metric_id) if monitor.star_metric_id else None,
        "star_threshold": monitor.star_threshold,
        "interval_minutes": monitor.interval_minutes,
        "period": monitor.period,
        "settle_seconds": monitor.settle_seconds,
        "is_active": monitor.is_active,
    }


class MonitorListApi(APIView):
    @extend_schema(
        tags=TAGS,
        parameters=[PROJECT_ID_PARAM],
        responses=MonitorListOut,
        operation_id="monitors_list",
    )
    def get(self, request):
        project = _project(request)
        found = Monitor.objects.filter(project=project).order_by("name")
        return Response({"data": MonitorOut(found, many=True).data})

    @extend_schema(
        tags=TAGS,
        request=MonitorIn,
        responses={201: MonitorDetailOut},
        operation_id="monitors_create",
    )
    def post(self, request):
        project = _project(request, role=Role.EDITOR)
        data = dict(_validated(MonitorIn, request.data))
        data.pop("project_id", None)
        monitor = monitors.monitor_save(project=project, user=request.user, data=data)
        return Response(MonitorDetailOut(monitor).data, status=status.HTTP_201_CREATED)


class MonitorDetailApi(APIView):
    @extend_schema(tags=TAGS, responses=MonitorDetailOut, operation_id="monitors_retrieve")
    def get(self, request, monitor_id):
        return Response(MonitorDetailOut(_monitor(request, monitor_id)).data)

    def _change(self, request, monitor_id, *, partial: bool):
        monitor = _monitor(request, monitor_id, role=Role.EDITOR)
        given = dict(_validated(MonitorIn, request.data))
        given.pop("project_id", None)
        given.pop("score_existing", None)
        data = {**_current(monitor), **given} if partial else given
        saved = monitors.monitor_save(
            project=monitor.project, user=request.user, data=data, monitor=monitor
        )
        return Response(MonitorDetailOut(saved).data)

    @extend_schema(
        tags=TAGS, request=MonitorIn, responses=MonitorDetailOut, operation_id="monitors_update"
    )
    def put(self, request, monitor_id):
        return self._change(request, monitor_id, partial=False)

    @extend_schema(
        tags=TAGS,
        request=MonitorIn,
        responses=MonitorDetailOut,
        operation_id="monitors_partial_update",
    )
    def patch(self, request, monitor_id):
        return self._change(request, monitor_id, partial=True)

    @extend_schema(tags=TAGS, responses={204: None}, operation_id="monitors_destroy")
    def delete(self, request, monitor_id):
        monitor = _monitor(request, monitor_id, role=Role.EDITOR)
        monitors.monitor_delete(monitor=monitor)
        return Response(status=status.HTTP_204_NO_CONTENT)
