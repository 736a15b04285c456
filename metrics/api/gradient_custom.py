"""``/v2/gen-ai/custom_evaluation_metrics``: Gradient's custom LLM-as-judge metrics, which are
project metrics with the ``llm_judge`` implementation, so pydo's create / update / delete
work against this server.

Gradient's body carries the judge's instructions (``config.scoring_prompt``) and whether the
ground truth is sent (``config.requires_ground_truth``); the prompt and the model's response
always are. Gradient has a judge model of its own; this server does not, so ``config`` also
takes the extension fields ``base_url`` and ``model`` of an OpenAI-compatible endpoint (and
``api_key``: a key, stored encrypted, or ``{"env": "NAME"}``). The project is the extension
field ``workspace_uuid`` or the caller's only project where they are an editor.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from evalsite.api import validated
from metrics import selectors, services
from metrics.api.gradient import metric_dict
from metrics.models import Metric
from projects.access import can, project_for_user, projects_for_user
from projects.models import Role

TAGS = ["gradient: custom evaluation metrics"]
CONTEXT = "\n\n---\nPrompt:\n{{input}}\n\nResponse:\n{{output}}"
GROUND_TRUTH = "\n\nGround truth:\n{{ground_truth}}"
INPUTS = [
    {"name": "input", "description": "The prompt (map $.dataset.<question>).", "required": True},
    {"name": "output", "description": "The response (map $.workflow.<answer>).", "required": True},
]
GROUND_TRUTH_INPUT = {
    "name": "ground_truth",
    "description": "The expected answer (map $.dataset.<ground truth>).",
    "required": True,
}


class ConfigIn(serializers.Serializer):
    scoring_prompt = serializers.CharField(required=False, max_length=20_000)
    requires_ground_truth = serializers.BooleanField(required=False)
    base_url = serializers.CharField(required=False, max_length=500)
    model = serializers.CharField(required=False, max_length=200)
    api_key = serializers.JSONField(required=False)


class CustomMetricIn(serializers.Serializer):
    metric_name = serializers.CharField(required=False, max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    config = ConfigIn(required=False)
    workspace_uuid = serializers.UUIDField(required=False)


def _project(user, workspace_uuid):
    if workspace_uuid:
        return project_for_user(user, workspace_uuid, role=Role.EDITOR)
    editable = [p for p in projects_for_user(user) if can(user, p, Role.EDITOR)]
    if len(editable) != 1:
        raise ValidationError(
            {"workspace_uuid": [f"Name the workspace (project): you edit {len(editable)}."]}
        )
    return editable[0]


def _judge_params(config: dict, previous: dict | None = None) -> tuple[dict, list[dict]]:
    previous = previous or {}
    prompt = config.get("scoring_prompt")
    if prompt is None:
        prompt = previous.get("prompt", "").split(CONTEXT)[0]
    if not prompt.strip():
        raise ValidationError({"config.scoring_prompt": ["Write the judge's instructions."]})
    ground_truth = config.get("requires_ground_truth")
    if ground_truth is None:
        ground_truth = GROUND_TRUTH in previous.get("prompt", "")
    base_url = config.get("base_url") or previous.get("base_url")
    model = config.get("model") or previous.get("model")
    if not base_url or not model:
        raise ValidationError(
            {
                "config.base_url": [
                    "This server has no judge model of its own: give config.base_url and "
                    "config.model of an OpenAI-compatible endpoint."
                ]
            }
        )
    params = {
        "preset": "custom",
        "base_url": base_url,
        "model": model,
        "prompt": prompt.strip() + CONTEXT + (GROUND_TRUTH if ground_truth else ""),
        "score_min": 0.0,
        "score_max": 1.0,
    }
    if "api_key" in config:
        params["api_key"] = config["api_key"]
    inputs = [*INPUTS, GROUND_TRUTH_INPUT] if ground_truth else list(INPUTS)
    return params, inputs


def custom_metric_dict(metric: Metric) -> dict:
    version = metric.latest_version()
    params = version.params if version is not None else {}
    prompt = params.get("prompt", "")
    body = metric_dict(metric)
    body.update(
        custom_eval_config={
            "requires_ground_truth": GROUND_TRUTH in prompt,
            "scoring_prompt": prompt.split(CONTEXT)[0],
        },
        evaluation_scope="EVALUATION_SCOPE_AGENT",
        source="EVALUATION_METRIC_SOURCE_CUSTOM",
    )
    return body


class CustomMetricCreateApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=CustomMetricIn,
        responses=OpenApiTypes.OBJECT,
        operation_id="gradient_custom_evaluation_metrics_create",
        description="An LLM-as-judge metric (config.base_url and config.model name the judge).",
    )
    def post(self, request):
        data = validated(CustomMetricIn, request.data)
        if not (data.get("metric_name") or "").strip():
            raise ValidationError({"metric_name": ["Give the metric a name."]})
        project = _project(request.user, data.get("workspace_uuid"))
        params, inputs = _judge_params(data.get("config") or {})
        metric = services.metric_create(
            project=project,
            user=request.user,
            name=data["metric_name"],
            description=data.get("description", ""),
            implementation="llm_judge",
            params=params,
            inputs=inputs,
        )
        return Response({"metric": custom_metric_dict(metric)})


class CustomMetricDetailApi(APIView):
    @extend_schema(
        tags=TAGS,
        request=CustomMetricIn,
        responses=OpenApiTypes.OBJECT,
        operation_id="gradient_custom_evaluation_metrics_update",
    )
    def put(self, request, metric_uuid):
        metric = selectors.metric_for_user(request.user, metric_uuid, role=Role.EDITOR)
        data = validated(CustomMetricIn, request.data)
        version = metric.latest_version()
        if version is None or version.implementation != "llm_judge":
            raise ValidationError({"metric_uuid": ["Not a custom LLM-as-judge metric."]})
        with transaction.atomic():
            changes = {}
            if data.get("metric_name"):
                changes["name"] = data["metric_name"]
            if "description" in data:
                changes["description"] = data["description"]
            if changes:
                metric = services.metric_update(metric=metric, user=request.user, **changes)
            if data.get("config"):
                params, inputs = _judge_params(data["config"], version.params)
                services.metric_version_create(
                    metric=metric, user=request.user, params=params, inputs=inputs
                )
        metric.refresh_from_db()
        return Response({"metric": custom_metric_dict(metric)})

    @extend_schema(
        tags=TAGS,
        responses=OpenApiTypes.OBJECT,
        operation_id="gradient_custom_evaluation_metrics_delete",
    )
    def delete(self, request, metric_uuid):
        metric = selectors.metric_for_user(request.user, metric_uuid, role=Role.EDITOR)
        services.metric_delete(metric=metric, user=request.user)
        return Response({})
