"""The metric catalogue: metrics (Gradient ``APIEvaluationMetric`` metadata) and their
immutable versions (implementation key, parameters, declared named inputs)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from evalsite.errors import ConflictError


class MetricCategory(models.TextChoices):
    CORRECTNESS = "METRIC_CATEGORY_CORRECTNESS", "Correctness"
    USER_OUTCOMES = "METRIC_CATEGORY_USER_OUTCOMES", "User outcomes"
    SAFETY_AND_SECURITY = "METRIC_CATEGORY_SAFETY_AND_SECURITY", "Safety and security"
    CONTEXT_QUALITY = "METRIC_CATEGORY_CONTEXT_QUALITY", "Context quality"
    MODEL_FIT = "METRIC_CATEGORY_MODEL_FIT", "Model fit"
    UNSPECIFIED = "METRIC_CATEGORY_UNSPECIFIED", "Unspecified"


class MetricType(models.TextChoices):
    GENERAL_QUALITY = "METRIC_TYPE_GENERAL_QUALITY", "General quality"
    RAG_AND_TOOL = "METRIC_TYPE_RAG_AND_TOOL", "RAG and tool"
    UNSPECIFIED = "METRIC_TYPE_UNSPECIFIED", "Unspecified"


class MetricValueType(models.TextChoices):
    NUMBER = "METRIC_VALUE_TYPE_NUMBER", "Number"
    STRING = "METRIC_VALUE_TYPE_STRING", "String"
    PERCENTAGE = "METRIC_VALUE_TYPE_PERCENTAGE", "Percentage"


class MetricQuerySet(models.QuerySet):
    def alive(self) -> MetricQuerySet:
        return self.filter(deleted_at__isnull=True)

    def builtin(self) -> MetricQuerySet:
        return self.filter(project__isnull=True)


class Metric(models.Model):
    """A named metric. ``project`` is null for the built-ins every project shares."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(
        "projects.Project",
        on_delete=models.CASCADE,
        related_name="metrics",
        null=True,
        blank=True,
        help_text="Empty for built-in metrics shared by every project.",
    )
    builtin_key = models.CharField(
        max_length=100,
        blank=True,
        default="",
        help_text="Stable key of a built-in metric (empty for project metrics).",
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    category = models.CharField(
        max_length=40, choices=MetricCategory.choices, default=MetricCategory.CORRECTNESS
    )
    metric_type = models.CharField(
        max_length=40, choices=MetricType.choices, default=MetricType.GENERAL_QUALITY
    )
    value_type = models.CharField(
        max_length=40, choices=MetricValueType.choices, default=MetricValueType.NUMBER
    )
    range_min = models.FloatField(null=True, blank=True)
    range_max = models.FloatField(null=True, blank=True)
    inverted = models.BooleanField(default=False, help_text="If true, a lower value is better.")
    rank = models.IntegerField(default=100)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = MetricQuerySet.as_manager()

    class Meta:
        ordering = ["category", "rank", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "name"],
                condition=models.Q(deleted_at__isnull=True, project__isnull=False),
                name="metric_unique_live_name_per_project",
            ),
            models.UniqueConstraint(
                fields=["builtin_key"],
                condition=models.Q(project__isnull=True),
                name="metric_unique_builtin_key",
            ),
        ]
        indexes = [models.Index(fields=["project", "deleted_at"])]

    def __str__(self) -> str:
        return self.name

    @property
    def is_builtin(self) -> bool:
        return self.project_id is None

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def is_numeric(self) -> bool:
        return self.value_type != MetricValueType.STRING

    def latest_version(self) -> MetricVersion | None:
        return self.versions.order_by("-number").first()

    def mark_deleted(self) -> None:
        if self.is_builtin:
            raise ConflictError("Built-in metrics cannot be deleted.", code="builtin")
        if self.deleted_at is None:
            self.deleted_at = timezone.now()
            self.save(update_fields=["deleted_at"])


class MetricVersion(models.Model):
    """An immutable implementation of a metric; changing anything makes a new version."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    metric = models.ForeignKey(Metric, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    implementation = models.CharField(max_length=100)
    params = models.JSONField(default=dict, blank=True)
    inputs = models.JSONField(default=list, blank=True)
    note = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["metric", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["metric", "number"], name="metricversion_unique_number")
        ]

    def __str__(self) -> str:
        return f"{self.metric.name} v{self.number}"

    def save(self, *args, **kwargs):
        # Versions are write-once: an existing row is never rewritten.
        if not self._state.adding:
            raise ConflictError(
                "Metric versions are immutable; create a new version instead.",
                code="immutable",
            )
        super().save(*args, **kwargs)

    @property
    def project(self):
        return self.metric.project

    def input_names(self) -> list[str]:
        return [item["name"] for item in self.inputs]

    def required_input_names(self) -> list[str]:
        return [item["name"] for item in self.inputs if item.get("required", True)]
