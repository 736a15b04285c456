"""Versioned datasets: a dataset has numbered versions; a draft is edited, a release is frozen.

Writes go through ``datasets.services``; these models only hold state and the behaviour of
one instance (state checks, column helpers).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from evalsite.errors import ConflictError

TRACE_FIELDS = ("input", "output", "status", "trace_id")


class ColumnType(models.TextChoices):
    STRING = "string", "String"
    NUMBER = "number", "Number"
    BOOLEAN = "boolean", "Boolean"
    OBJECT = "object", "Object"
    ARRAY = "array", "Array"
    NULL = "null", "Null"
    MIXED = "mixed", "Mixed"


class VersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    RELEASED = "released", "Released"


class Dataset(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="datasets"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="dataset_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class DatasetVersion(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(
        max_length=10, choices=VersionStatus.choices, default=VersionStatus.DRAFT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    released_at = models.DateTimeField(null=True, blank=True)
    # Kept up to date on drafts by the services, recomputed exactly and frozen at release.
    columns = models.JSONField(default=list, blank=True)
    row_count = models.PositiveIntegerField(default=0)
    checksum = models.CharField(max_length=64, blank=True)
    is_trace_shaped = models.BooleanField(default=False)
    based_on = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["dataset", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="dataset_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.dataset.name} v{self.number} ({self.status})"

    @property
    def is_released(self) -> bool:
        return self.status == VersionStatus.RELEASED

    @property
    def is_draft(self) -> bool:
        return self.status == VersionStatus.DRAFT

    def column_names(self) -> list[str]:
        return [column["name"] for column in self.columns or []]

    def ensure_draft(self) -> None:
        """Refuse any write to a released version: it is immutable."""
        if self.is_released:
            raise ConflictError(
                f"Version {self.number} of {self.dataset.name} is released and cannot be "
                "changed. Create a new draft from it instead.",
                code="version_released",
            )

    def mark_released(self, *, user, columns, row_count: int, checksum: str, trace: bool):
        self.ensure_draft()
        self.status = VersionStatus.RELEASED
        self.released_by = user
        self.released_at = timezone.now()
        self.columns = columns
        self.row_count = row_count
        self.checksum = checksum
        self.is_trace_shaped = trace


class DatasetItem(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="items")
    position = models.IntegerField(help_text="0-based order of the row in its version.")
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["version", "position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "position"], name="dataset_item_position")
        ]

    def __str__(self) -> str:
        return f"item {self.position} of {self.version_id}"
