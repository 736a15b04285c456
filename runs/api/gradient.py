"""``/v2/gen-ai/evaluation_runs`` and ``/v2/gen-ai/evaluation_test_cases``: the DigitalOcean
Gradient dialect, so that the published ``gradient`` SDK works unchanged against this server.

Agents are workflows, the workspace is the project. One APIView per operation; each validates,
calls a service or selector shared with the UI and the ``/v1`` dialect, and shapes the answer.
"""

from __future__ import annotations

import math
from urllib.parse import urlencode

import orjson
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from evalsite.api import validated as _validated
from projects.access import project_for_user, require_role, scope_to_user
from projects.models import Role
from runs import results_cache, selectors, test_cases
from runs.api import gradient_serializers as s
from runs.api import gradient_test_cases as cases
from runs.api.gradient_shapes import RunContext, evaluation_run_dict, prompt_dict
from runs.api.lookups import (
    idempotency_key,
    request_fingerprint,
    run_for_user,
    test_case_for_user,
)
from runs.models import EvaluationTestCase
from workflows.models import Workflow

RUN_TAGS = ["gradient: evaluation runs"]
CASE_TAGS = ["gradient: evaluation test cases"]
RUN_UUID = OpenApiParameter(
    "evaluation_run_uuid", OpenApiTypes.STR, OpenApiParameter.PATH, description="Run UUID."
)
CASE_UUID = OpenApiParameter(
    "test_case_uuid", OpenApiTypes.STR, OpenApiParameter.PATH, description="Test case UUID."
)
CASE_VERSION = OpenApiParameter(
    "evaluation_test_case_version", OpenApiTypes.INT, description="Version of the test case."
)


def _test_case_in_body(request, test_case_id) -> EvaluationTestCase:
    """A test case named in a request body: unknown (or another project's) is a 400."""
    test_case = (
        scope_to_user(EvaluationTestCase.objects.select_related("project"), request.user)
        .filter(pk=test_case_id)
        .first()
    )
    if test_case is None:
        raise ValidationError({"test_case_uuid": ["No such evaluation test case."]})
    require_role(request.user, test_case.project, Role.EDITOR)
    return test_case


def _agents(test_case: EvaluationTestCase, uuids: list, names: list[str]) -> list[Workflow]:
    workflows = Workflow.objects.filter(project_id=test_case.project_id)
    found = {w.id: w for w in workflows.filter(id__in=uuids)}
    errors: dict[str, list[str]] = {}
    missing = [str(u) for u in uuids if u not in found]
    if missing:
        errors["agent_uuids"] = [f"No such agent in this workspace: {', '.join(missing)}."]
    agents = [found[u] for u in uuids if u in found]
    for name in names:
        workflow = workflows.filter(name=name, deleted_at__isnull=True).order_by("-created_at")
        workflow = workflow.first()
        if workflow is None:
            errors.setdefault("agent_deployment_names", []).append(
                f"No agent named '{name}' in this workspace."
            )
        else:
            agents.append(workflow)
    if errors:
        raise ValidationError(errors)
    unique = list({a.id: a for a in agents}.values())
    return unique


class EvaluationRunCreateApi(APIView):
    @extend_schema(
        tags=RUN_TAGS,
        request=s.RunCreateIn,
        responses=s.RunCreateOut,
        operation_id="gradient_evaluation_runs_create",
        parameters=[OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER)],
        description="Run an evaluation test case against one or more agents (workflows): one "
        "run per agent. The test case's dataset runs at its latest released version.",
    )
    def post(self, request):
        data = _validated(s.RunCreateIn, request.data)
        key = idempotency_key(request)
        test_case = _test_case_in_body(request, data["test_case_uuid"])
        agents = _agents(test_case, data["agent_uuids"], data["agent_deployment_names"])
        runs = test_cases.test_case_run(
            test_case=test_case,
            user=request.user,
            workflow_ids=[agent.id for agent in agents],
            run_name=data.get("run_name") or "",
            idempotency_key=key,
            idempotency_fingerprint=request_fingerprint(request) if key else "",
        )
        return Response({"evaluation_run_uuids": [str(run.id) for run in runs]})


class EvaluationRunRetrieveApi(APIView):
    @extend_schema(
        tags=RUN_TAGS,
        parameters=[RUN_UUID],
        responses=s.RunRetrieveOut,
        operation_id="gradient_evaluation_runs_retrieve",
    )
    def get(self, request, evaluation_run_uuid):
        run = run_for_user(request, evaluation_run_uuid)
        return Response({"evaluation_run": evaluation_run_dict(run)})


def _page_url(request, page: int, per_page: int) -> str:
    query = urlencode({"page": page, "per_page": per_page})
    return request.build_absolute_uri(f"{request.path}?{query}")


class EvaluationRunResultsApi(APIView):
    @extend_schema(
        tags=RUN_TAGS,
        parameters=[
            RUN_UUID,
            OpenApiParameter("page", OpenApiTypes.INT, description="Page number (from 1)."),
            OpenApiParameter("per_page", OpenApiTypes.INT, description="Items per page (1-1000)."),
        ],
        responses=s.RunResultsOut,
        operation_id="gradient_evaluation_runs_list_results",
    )
    def get(self, request, evaluation_run_uuid):
        query = _validated(s.ResultsQuery, request.query_params)
        page, per_page = query["page"], query["per_page"]
        run = run_for_user(request, evaluation_run_uuid)
        context = RunContext(run)
        count = len(context.entries)
        total = selectors.prompt_total(run, count) * count if count else 0

        def build() -> bytes:
            return orjson.dumps(_prompts_page(run, context, page, per_page, total), default=str)

        prompts = results_cache.cached_page(
            run, "v2-prompts", (page, per_page), context.cache_labels(), build
        )
        pages = max(1, math.ceil(total / per_page))
        links = {
            "first": _page_url(request, 1, per_page),
            "last": _page_url(request, pages, per_page),
        }
        if page < pages:
            links["next"] = _page_url(request, page + 1, per_page)
        if page > 1:
            links["previous"] = _page_url(request, min(page - 1, pages), per_page)
        body = {
            "evaluation_run": evaluation_run_dict(run, context),
            "links": {"pages": links},
            "meta": {"page": page, "pages": pages, "total": total},
            "prompts": orjson.Fragment(prompts),
        }
        # orjson (with the cached prompts embedded as they are) rather than DRF's renderer.
        return HttpResponse(orjson.dumps(body, default=str), content_type="application/json")


def _prompts_page(run, context: RunContext, page: int, per_page: int, total: int) -> list:
    """The ``APIEvaluationPrompt`` dicts of one page (prompt ids first + 1 .. last)."""
    count = len(context.entries)
    first = (page - 1) * per_page
    last = min(first + per_page, total)
    if not count or first >= last:
        return []
    tasks = selectors.run_prompt_rows(
        run, entry_id=None, start=first // count, stop=math.ceil(last / count)
    )
    shaped = sorted(
        ((context.prompt_id(task), task, results) for task, results in tasks),
        key=lambda shaped_row: shaped_row[0],
    )
    return [
        prompt_dict(task, results, context)
        for prompt_id, task, results in shaped
        if first < prompt_id <= last
    ]


class EvaluationRunPromptApi(APIView):
    @extend_schema(
        tags=RUN_TAGS,
        parameters=[
            RUN_UUID,
            OpenApiParameter(
                "prompt_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Prompt ID."
            ),
        ],
        responses=s.PromptResultsOut,
        operation_id="gradient_evaluation_runs_retrieve_results",
    )
    def get(self, request, evaluation_run_uuid, prompt_id):
        run = run_for_user(request, evaluation_run_uuid)
        try:
            position = int(prompt_id) - 1
        except (TypeError, ValueError) as exc:
            raise Http404("No such prompt.") from exc
        context = RunContext(run)
        if not context.entries or position < 0:
            raise Http404("No such prompt.")
        item_position, entry_index = context.prompt_range(position + 1)
        entry = context.entries[entry_index]
        tasks = selectors.run_prompt_rows(
            run, entry_id=entry.id, start=item_position, stop=item_position + 1
        )
        if not tasks:
            raise Http404("No such prompt.")
        task, results = tasks[0]
        return Response({"prompt": prompt_dict(task, results, context)})


# --- test cases -------------------------------------------------------------------------------


class TestCaseListCreateApi(APIView):
    @extend_schema(
        tags=CASE_TAGS,
        responses=s.TestCaseListOut,
        operation_id="gradient_evaluation_test_cases_list",
    )
    def get(self, request):
        found = cases.test_cases_for_user(request.user)
        return Response({"evaluation_test_cases": cases.test_case_dicts(found)})

    @extend_schema(
        tags=CASE_TAGS,
        request=s.TestCaseCreateIn,
        responses=s.TestCaseCreateOut,
        operation_id="gradient_evaluation_test_cases_create",
    )
    def post(self, request):
        data = _validated(s.TestCaseCreateIn, request.data)
        project, dataset = cases.resolve_dataset(
            request.user, data["dataset_uuid"], workspace_uuid=data.get("workspace_uuid")
        )
        test_case = test_cases.test_case_create(
            project=project,
            user=request.user,
            name=data["name"],
            description=data.get("description", ""),
            dataset=dataset,
            metrics=data.get("metrics", []),
            star_metric=data.get("star_metric"),
            run_options=data.get("run_options"),
        )
        return Response({"test_case_uuid": str(test_case.id)})


class TestCaseDetailApi(APIView):
    @extend_schema(
        tags=CASE_TAGS,
        parameters=[CASE_UUID, CASE_VERSION],
        responses=s.TestCaseRetrieveOut,
        operation_id="gradient_evaluation_test_cases_retrieve",
    )
    def get(self, request, test_case_uuid):
        query = _validated(s.TestCaseVersionQuery, request.query_params)
        test_case = test_case_for_user(request, test_case_uuid)
        body = cases.test_case_dict_for(
            test_case, version=query.get("evaluation_test_case_version")
        )
        return Response({"evaluation_test_case": body})

    @extend_schema(
        tags=CASE_TAGS,
        parameters=[CASE_UUID],
        request=s.TestCaseUpdateIn,
        responses=s.TestCaseUpdateOut,
        operation_id="gradient_evaluation_test_cases_update",
    )
    def put(self, request, test_case_uuid):
        test_case = test_case_for_user(request, test_case_uuid, role=Role.EDITOR)
        data = _validated(s.TestCaseUpdateIn, request.data)
        if data.get("test_case_uuid") and data["test_case_uuid"] != test_case.id:
            raise ValidationError({"test_case_uuid": ["Does not match the URL."]})
        changes = {k: v for k, v in data.items() if k not in ("test_case_uuid", "dataset_uuid")}
        if "dataset_uuid" in data:
            _, changes["dataset"] = cases.resolve_dataset(
                request.user, data["dataset_uuid"], workspace_uuid=test_case.project_id
            )
        test_case = test_cases.test_case_update(test_case=test_case, user=request.user, **changes)
        return Response({"test_case_uuid": str(test_case.id), "version": test_case.version})


class WorkspaceTestCasesApi(APIView):
    @extend_schema(
        tags=CASE_TAGS,
        parameters=[
            OpenApiParameter(
                "workspace_uuid",
                OpenApiTypes.UUID,
                OpenApiParameter.PATH,
                description="Workspace UUID: a project's id.",
            )
        ],
        responses=s.TestCaseListOut,
        operation_id="gradient_workspaces_evaluation_test_cases_list",
        description="The evaluation test cases of one workspace (a project).",
    )
    def get(self, request, workspace_uuid):
        project = project_for_user(request.user, workspace_uuid)
        found = cases.test_cases_for_user(request.user).filter(project=project)
        return Response({"evaluation_test_cases": cases.test_case_dicts(found)})


class TestCaseRunsApi(APIView):
    @extend_schema(
        tags=CASE_TAGS,
        parameters=[
            OpenApiParameter("evaluation_test_case_uuid", OpenApiTypes.STR, OpenApiParameter.PATH),
            CASE_VERSION,
        ],
        responses=s.RunListOut,
        operation_id="gradient_evaluation_test_cases_list_evaluation_runs",
    )
    def get(self, request, evaluation_test_case_uuid):
        query = _validated(s.TestCaseVersionQuery, request.query_params)
        test_case = test_case_for_user(request, evaluation_test_case_uuid)
        runs = selectors.runs_for_test_case(
            test_case, version=query.get("evaluation_test_case_version")
        )
        return Response({"evaluation_runs": [evaluation_run_dict(run) for run in runs]})


__all__ = [
    "EvaluationRunCreateApi",
    "EvaluationRunPromptApi",
    "EvaluationRunResultsApi",
    "EvaluationRunRetrieveApi",
    "TestCaseDetailApi",
    "TestCaseListCreateApi",
    "TestCaseRunsApi",
    "WorkspaceTestCasesApi",
]
