"""Which dataset item holds which trace.

Ingested traces live as ordinary dataset items (``datasets.DatasetItem``); this table only
finds the item of a trace in a version, so that spans arriving in later requests are merged
into it. The unique (version, trace_id) pair is what makes one trace one item even when two
requests for it race.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class TraceItem(models.Model):
    version = models.ForeignKey(
        "datasets.DatasetVersion", on_delete=models.CASCADE, related_name="trace_items"
    )
    trace_id = models.CharField(max_length=32)
    item = models.ForeignKey(
        "datasets.DatasetItem", on_delete=models.CASCADE, related_name="trace_links"
    )
    span_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "trace_id"], name="trace_item_unique")
        ]

    def __str__(self) -> str:
        return f"trace {self.trace_id} in {self.version_id}"


class SpanMetricResult(models.Model):
    """One span's score under a span-targeting metric binding: exactly one per
    (task, binding, span_index), written by bulk upsert (``traces.span_scoring``)."""

    id = models.BigAutoField(primary_key=True)
    task = models.ForeignKey(
        "runs.RunTask", on_delete=models.CASCADE, related_name="span_results", db_index=False
    )
    binding = models.ForeignKey(
        "runs.MetricBinding", on_delete=models.CASCADE, related_name="span_results"
    )
    span_index = models.PositiveIntegerField()  # position of the span in the row's trace
    span_id = models.CharField(max_length=64, blank=True, default="")
    span_name = models.CharField(max_length=300, blank=True, default="")
    number_value = models.FloatField(null=True, blank=True)
    reasoning = models.TextField(blank=True, default="")
    error_description = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["task_id", "binding_id", "span_index"]
        constraints = [
            models.UniqueConstraint(
                fields=["task", "binding", "span_index"], name="span_metric_result_unique"
            )
        ]

    def __str__(self) -> str:
        return f"span {self.span_index} of task {self.task_id}"
