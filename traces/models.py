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
