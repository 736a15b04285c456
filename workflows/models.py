"""Workflows (agents) the platform calls, and their immutable versions.

A ``Workflow`` is a named agent in a project; every change to what it does creates a new
``WorkflowVersion`` whose ``config`` never changes afterwards. Runs pin versions, so deleting a
workflow only marks it deleted: its versions stay for the runs that used them.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

DEFAULT_MAX_CONCURRENCY = 10


class WorkflowKind(models.TextChoices):
    HTTP = "http", "HTTP endpoint"
    OPENAI_CHAT = "openai_chat", "OpenAI-compatible chat"
    PYTHON = "python", "Python callable"


class WorkflowQuerySet(models.QuerySet):
    def active(self) -> WorkflowQuerySet:
        return self.filter(deleted_at__isnull=True)


class Workflow(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="workflows"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=20, choices=WorkflowKind.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = WorkflowQuerySet.as_manager()

    class Meta:
        ordering = ["name", "created_at"]
        indexes = [models.Index(fields=["project", "deleted_at"])]

    def __str__(self) -> str:
        return self.name

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def latest_version(self) -> WorkflowVersion | None:
        return self.versions.order_by("-number").first()

    def mark_deleted(self) -> bool:
        """Mark deleted once; returns False when it already was."""
        changed = Workflow.objects.filter(pk=self.pk, deleted_at__isnull=True).update(
            deleted_at=timezone.now()
        )
        self.refresh_from_db(fields=["deleted_at"])
        return bool(changed)


class WorkflowVersion(models.Model):
    """An immutable configuration of a workflow. Secrets in ``config`` are references only
    (``{"env": NAME}`` or ``{"encrypted": token}``), never clear text."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    config = models.JSONField(default=dict)
    inputs = models.JSONField(default=list)
    outputs = models.JSONField(default=list)
    content_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["workflow", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "number"], name="workflowversion_unique_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.workflow.name} v{self.number}"

    def save(self, *args, **kwargs):
        # Versions are immutable: only the first save (the insert) is allowed.
        if not self._state.adding:
            from evalsite.errors import ConflictError

            raise ConflictError("A workflow version is immutable; create a new version.")
        super().save(*args, **kwargs)

    @property
    def project(self):
        return self.workflow.project

    @property
    def kind(self) -> str:
        return self.workflow.kind

    def input_names(self) -> list[str]:
        return [item["name"] for item in self.inputs]

    def required_input_names(self) -> list[str]:
        return [item["name"] for item in self.inputs if item.get("required", True)]

    def output_names(self) -> list[str]:
        return [item["name"] for item in self.outputs]

    @property
    def max_concurrency(self) -> int:
        value = (self.config or {}).get("max_concurrency") or DEFAULT_MAX_CONCURRENCY
        return max(1, int(value))
