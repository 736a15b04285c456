"""WORKFLOWS tab: list, create/edit per kind (editing makes a new version), version history
with config differences, and the "Try it" panel. All writes go through ``services``."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from evalsite.errors import ConflictError
from evalsite.filters import filter_errors
from evalsite.outbound.interactive import TryRateLimited
from projects.access import can, project_for_user
from projects.models import Role
from runs.trace_view import span_tree, spans_of
from workflows import selectors, services
from workflows.configs import public_config
from workflows.filtersets import WorkflowFilterSet
from workflows.forms import TryForm, WorkflowForm
from workflows.models import Workflow, WorkflowKind


def _workflow(request, project_id, workflow_id, *, role=Role.VIEWER) -> Workflow:
    workflow = selectors.workflow_for_user(request.user, workflow_id, role=role)
    if workflow.project_id != project_id:
        raise Http404("No such workflow.")
    return workflow


def workflow_list(request, project_id):
    project = project_for_user(request.user, project_id)
    filterset = WorkflowFilterSet(request.GET or None, selectors.workflows_for_project(project))
    workflows = (
        filterset.qs if filterset.is_valid() else selectors.workflows_for_project(project)
    ).select_related("created_by")
    return render(
        request,
        "workflows/list.html",
        {
            "project": project,
            "workflows": workflows,
            "kinds": WorkflowKind.choices,
            "filter_errors": filter_errors(filterset),
            "can_edit": can(request.user, project, Role.EDITOR),
        },
    )


@require_http_methods(["GET", "POST"])
def create(request, project_id):
    project = project_for_user(request.user, project_id, role=Role.EDITOR)
    kind = request.GET.get("kind", WorkflowKind.HTTP)
    if kind not in WorkflowKind.values:
        kind = WorkflowKind.HTTP
    form = WorkflowForm(request.POST or None, kind=kind, initial=_defaults(kind))
    if request.method == "POST" and form.is_valid():
        try:
            config, inputs, outputs = form.payload()
            workflow = services.workflow_create(
                project=project,
                user=request.user,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                kind=kind,
                config=config,
                inputs=inputs,
                outputs=outputs,
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Created workflow {workflow.name} (version 1).")
            return redirect("workflows:detail", project_id=project.pk, workflow_id=workflow.pk)
    return render(
        request,
        "workflows/form.html",
        {"project": project, "form": form, "kind": kind, "kinds": WorkflowKind.choices},
    )


def _defaults(kind: str) -> dict:
    common = {"inputs": "question: The user's question", "outputs": "answer: The answer"}
    if kind == WorkflowKind.HTTP:
        return common | {
            "method": "POST",
            "body_template": '{"question": "{{question}}"}',
            "output_paths": "answer: $.answer",
            "timeout_s": 30,
            "max_retries": 2,
            "max_concurrency": 10,
        }
    if kind == WorkflowKind.OPENAI_CHAT:
        return common | {
            "base_url": "https://api.openai.com/v1",
            "user_prompt": "{{question}}",
            "timeout_s": 60,
            "max_retries": 2,
            "max_concurrency": 10,
        }
    return common | {"timeout_s": 60, "max_concurrency": 10}


@require_http_methods(["GET", "POST"])
def edit(request, project_id, workflow_id):
    workflow = _workflow(request, project_id, workflow_id, role=Role.EDITOR)
    latest = workflow.latest_version()
    if workflow.is_deleted or latest is None:
        messages.error(request, "A deleted workflow cannot be edited.")
        return redirect("workflows:detail", project_id=project_id, workflow_id=workflow.pk)
    form = WorkflowForm(
        request.POST or None,
        kind=workflow.kind,
        previous=latest,
        initial=WorkflowForm.initial_for(workflow, latest),
    )
    if request.method == "POST" and form.is_valid():
        try:
            config, inputs, outputs = form.payload()
            _, version, created = services.workflow_update(
                workflow=workflow,
                user=request.user,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                config=config,
                inputs=inputs,
                outputs=outputs,
            )
        except (ValidationError, ConflictError) as exc:
            if isinstance(exc, ConflictError):
                form.add_error(None, exc.message)
            else:
                form.add_service_errors(exc)
        else:
            if created:
                messages.success(request, f"Saved as version {version.number}.")
            else:
                messages.info(request, "The configuration did not change; no new version.")
            return redirect("workflows:detail", project_id=project_id, workflow_id=workflow.pk)
    return render(
        request,
        "workflows/form.html",
        {"project": workflow.project, "form": form, "kind": workflow.kind, "workflow": workflow},
    )


def detail(request, project_id, workflow_id):
    workflow = _workflow(request, project_id, workflow_id)
    versions = version_rows(workflow)
    latest = versions[0]["version"] if versions else None
    selected = latest
    if request.GET.get("version"):
        selected = selectors.version_for_workflow(workflow, request.GET["version"])
    return render(
        request,
        "workflows/detail.html",
        {
            "project": workflow.project,
            "workflow": workflow,
            "versions": versions,
            "selected": selected,
            "try_form": TryForm(version=selected, initial={"version": selected.pk})
            if selected
            else None,
            "can_edit": can(request.user, workflow.project, Role.EDITOR),
        },
    )


def version_rows(workflow: Workflow) -> list[dict]:
    """Versions newest first, each with its public config and the diff from the previous."""
    versions = list(workflow.versions.select_related("created_by").order_by("number"))
    rows, previous = [], None
    for version in versions:
        shown = public_config(version.config)
        rows.append(
            {
                "version": version,
                "config": shown,
                "diff": selectors.config_diff(previous, shown) if previous is not None else [],
            }
        )
        previous = shown
    return rows[::-1]


@require_POST
def try_version(request, project_id, workflow_id):
    workflow = _workflow(request, project_id, workflow_id, role=Role.EDITOR)
    version = selectors.version_for_workflow(workflow, request.POST.get("version"))
    form = TryForm(request.POST, version=version)
    result, error = None, None
    if form.is_valid():
        try:
            result = services.workflow_version_try(
                version=version, inputs=form.inputs(), user=request.user
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
        except TryRateLimited as exc:
            error = exc.message
    context = {
        "project": workflow.project,
        "workflow": workflow,
        "selected": version,
        "try_form": form,
        "result": result,
        "span_tree": span_tree(spans_of(getattr(result, "spans", None) or [])),
        "error": error,
        "can_edit": True,
    }
    if request.htmx:
        return render(request, "workflows/detail.html#try-panel", context)
    context["versions"] = version_rows(workflow)
    return render(request, "workflows/detail.html", context)


@require_POST
def delete(request, project_id, workflow_id):
    workflow = _workflow(request, project_id, workflow_id, role=Role.EDITOR)
    try:
        services.workflow_delete(workflow=workflow)
    except ConflictError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Deleted workflow {workflow.name}; its versions are kept.")
    return redirect("workflows:list", project_id=project_id)
