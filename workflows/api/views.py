"""REST endpoints for workflows (Bearer auth): list/create, detail/delete, versions, try."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import Throttled
from rest_framework.response import Response
from rest_framework.views import APIView

from evalsite.api import project_from_request as _project
from evalsite.filters import filtered_or_400
from evalsite.outbound.interactive import TryRateLimited
from projects.models import Role
from workflows import selectors, services
from workflows.api import serializers as s
from workflows.filtersets import WorkflowFilterSet
from workflows.models import WorkflowKind

PROJECT_PARAM = OpenApiParameter("project_id", str, required=True, description="Project UUID.")
TAGS = ["workflows"]


def _workflow_out(workflow) -> dict:
    return s.WorkflowOut(workflow).data


class WorkflowListApi(APIView):
    @extend_schema(
        operation_id="workflows_list",
        parameters=[
            PROJECT_PARAM,
            OpenApiParameter("search", OpenApiTypes.STR, description="Text in the name."),
            OpenApiParameter("kind", OpenApiTypes.STR, enum=list(WorkflowKind.values)),
        ],
        responses=s.WorkflowListOut,
        tags=TAGS,
    )
    def get(self, request):
        project = _project(request)
        filterset = WorkflowFilterSet(
            request.query_params, selectors.workflows_for_project(project)
        )
        workflows = list(filtered_or_400(filterset).select_related("created_by"))
        latest = selectors.latest_versions(workflows)
        data = s.WorkflowOut(workflows, many=True, context={"latest": latest}).data
        return Response({"data": data})


class WorkflowCreateApi(APIView):
    @extend_schema(
        parameters=[PROJECT_PARAM], request=s.WorkflowIn, responses={201: s.WorkflowOut}, tags=TAGS
    )
    def post(self, request):
        project = _project(request, role=Role.EDITOR)
        body = s.WorkflowIn(data=request.data)
        body.is_valid(raise_exception=True)
        workflow = services.workflow_create(
            project=project, user=request.user, **body.validated_data
        )
        return Response(_workflow_out(workflow), status=status.HTTP_201_CREATED)


class WorkflowsApi(WorkflowListApi, WorkflowCreateApi):
    """GET lists, POST creates (one path, two operations)."""


class WorkflowDetailApi(APIView):
    @extend_schema(responses=s.WorkflowOut, tags=TAGS)
    def get(self, request, workflow_id):
        return Response(_workflow_out(selectors.workflow_for_user(request.user, workflow_id)))

    @extend_schema(responses=s.WorkflowOut, tags=TAGS)
    def delete(self, request, workflow_id):
        workflow = selectors.workflow_for_user(request.user, workflow_id, role=Role.EDITOR)
        return Response(_workflow_out(services.workflow_delete(workflow=workflow)))


class VersionsApi(APIView):
    @extend_schema(
        operation_id="workflow_versions_list", responses=s.WorkflowVersionListOut, tags=TAGS
    )
    def get(self, request, workflow_id):
        workflow = selectors.workflow_for_user(request.user, workflow_id)
        versions = workflow.versions.select_related("workflow", "created_by").order_by("-number")
        return Response({"data": s.WorkflowVersionOut(versions, many=True).data})

    @extend_schema(
        request=s.WorkflowVersionIn,
        responses={201: s.WorkflowVersionOut, 200: s.WorkflowVersionOut},
        tags=TAGS,
    )
    def post(self, request, workflow_id):
        workflow = selectors.workflow_for_user(request.user, workflow_id, role=Role.EDITOR)
        body = s.WorkflowVersionIn(data=request.data)
        body.is_valid(raise_exception=True)
        version, created = services.workflow_version_create(
            workflow=workflow, user=request.user, **body.validated_data
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(s.WorkflowVersionOut(version).data, status=code)


class VersionDetailApi(APIView):
    @extend_schema(responses=s.WorkflowVersionOut, tags=TAGS)
    def get(self, request, workflow_id, version_id):
        workflow = selectors.workflow_for_user(request.user, workflow_id)
        version = selectors.version_for_workflow(workflow, version_id)
        return Response(s.WorkflowVersionOut(version).data)


class VersionTryApi(APIView):
    @extend_schema(request=s.WorkflowTryIn, responses=s.WorkflowTryOut, tags=TAGS)
    def post(self, request, workflow_id, version_id):
        workflow = selectors.workflow_for_user(request.user, workflow_id, role=Role.EDITOR)
        version = selectors.version_for_workflow(workflow, version_id)
        body = s.WorkflowTryIn(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            result = services.workflow_version_try(
                version=version, inputs=body.validated_data["inputs"], user=request.user
            )
        except TryRateLimited as exc:
            raise Throttled(wait=exc.wait_s, detail=exc.message) from None
        return Response(s.WorkflowTryOut(result.as_dict()).data)
