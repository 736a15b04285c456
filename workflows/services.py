"""Writes on workflows: create, new version, delete, and trying one input through a version.

UI views and API views both call these; they validate through ``workflows.configs`` and raise
``ValidationError`` (field errors) or ``ConflictError``.
"""

from __future__ import annotations

import asyncio

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from evalsite.errors import ConflictError
from evalsite.outbound.interactive import interactive_call
from projects.models import Project
from workflows import configs
from workflows.executors import ExecutionResult, build_executor, new_async_client
from workflows.models import Workflow, WorkflowKind, WorkflowVersion

MAX_NAME = 200


def _clean_name(name) -> str:
    name = str(name or "").strip()
    if not name:
        raise ValidationError({"name": ["This field is required."]})
    if len(name) > MAX_NAME:
        raise ValidationError({"name": [f"At most {MAX_NAME} characters."]})
    return name


def _new_version(*, workflow: Workflow, user, config, inputs, outputs, previous=None):
    config, inputs, outputs = configs.validate_version(
        kind=workflow.kind,
        config=config,
        inputs=inputs,
        outputs=outputs,
        previous_config=previous.config if previous else None,
    )
    digest = configs.content_hash(kind=workflow.kind, config=config, inputs=inputs, outputs=outputs)
    if previous is not None and previous.content_hash == digest:
        return previous, False
    number = (previous.number if previous else 0) + 1
    try:
        with transaction.atomic():
            version = WorkflowVersion.objects.create(
                workflow=workflow,
                number=number,
                config=config,
                inputs=inputs,
                outputs=outputs,
                content_hash=digest,
                created_by=user,
            )
    except IntegrityError as exc:
        raise ConflictError(
            "Someone else saved a new version at the same time; reload and try again."
        ) from exc
    return version, True


@transaction.atomic
def workflow_create(
    *,
    project: Project,
    user,
    name: str,
    kind: str,
    config: dict,
    inputs: list | None = None,
    outputs: list | None = None,
    description: str = "",
) -> Workflow:
    name = _clean_name(name)
    workflow = Workflow(
        project=project,
        name=name,
        description=str(description or ""),
        kind=kind,
        created_by=user,
    )
    if kind not in WorkflowKind.values:
        raise ValidationError({"kind": [f"Choose one of {', '.join(WorkflowKind.values)}."]})
    workflow.save()  # rolled back with everything else if the version is invalid
    _new_version(workflow=workflow, user=user, config=config, inputs=inputs, outputs=outputs)
    return workflow


@transaction.atomic
def workflow_version_create(
    *,
    workflow: Workflow,
    user,
    config: dict,
    inputs: list | None = None,
    outputs: list | None = None,
) -> tuple[WorkflowVersion, bool]:
    """A new version (created=True), or the latest one when nothing changed (False)."""
    if workflow.is_deleted:
        raise ConflictError("This workflow is deleted; it cannot get new versions.")
    Workflow.objects.select_for_update().filter(pk=workflow.pk).first()
    previous = workflow.latest_version()
    if inputs is None and previous is not None:
        inputs = previous.inputs
    if outputs is None and previous is not None:
        outputs = previous.outputs
    return _new_version(
        workflow=workflow,
        user=user,
        config=config,
        inputs=inputs,
        outputs=outputs,
        previous=previous,
    )


@transaction.atomic
def workflow_update(
    *,
    workflow: Workflow,
    user,
    name: str,
    description: str,
    config: dict,
    inputs: list | None,
    outputs: list | None,
) -> tuple[Workflow, WorkflowVersion, bool]:
    """Edit a workflow: name/description in place; a new version when its config changed."""
    name = _clean_name(name)
    version, created = workflow_version_create(
        workflow=workflow, user=user, config=config, inputs=inputs, outputs=outputs
    )
    Workflow.objects.filter(pk=workflow.pk).update(name=name, description=str(description or ""))
    workflow.refresh_from_db()
    return workflow, version, created


@transaction.atomic
def workflow_delete(*, workflow: Workflow) -> Workflow:
    """Mark deleted; versions stay for the runs that pinned them."""
    if not workflow.mark_deleted():
        raise ConflictError("This workflow is already deleted.")
    return workflow


def workflow_version_try(*, version: WorkflowVersion, inputs: dict, user) -> ExecutionResult:
    """Run one input through ``version`` now (the "Try it" panel) with a fresh client, under
    the interactive limits (per-user rate, short timeout, no retries; raises
    ``TryRateLimited``). The caller has checked that ``user`` is an editor."""
    if not isinstance(inputs, dict):
        raise ValidationError({"inputs": ["Must be an object of input name -> value."]})
    unknown = sorted(set(inputs) - set(version.input_names()))
    if unknown:
        raise ValidationError({"inputs": [f"Unknown input: {', '.join(unknown)}."]})
    executor = build_executor(version)

    async def once() -> ExecutionResult:
        async with new_async_client(max_connections=4) as client:
            return await executor.run(inputs, client=client)

    with interactive_call(user=user):
        return asyncio.run(once())
